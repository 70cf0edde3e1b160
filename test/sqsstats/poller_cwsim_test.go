/*
Copyright 2026 The queue-drainer Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package sqsstats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"k8s.io/apimachinery/pkg/types"

	"github.com/queuedrainer/queue-drainer/internal/queueurl"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/emulator/cwsim"
)

// simClients gives the poller a real SDK CloudWatch client for the simulator.
type simClients struct {
	sqsstats.ClientSource
	cw *cloudwatch.Client
}

func (c simClients) CloudWatch(string, string) sqsstats.CloudWatchAPI { return c.cw }

// The same measurement as the fake-based unit test, through the real SDK
// client and the CloudWatch simulator (with AWS's own page size).
func TestPollerAsksTheSimulatorAbout1200QueuesIn3Calls(t *testing.T) {
	ctx := context.Background()
	sim := cwsim.New(cwsim.Options{PageSize: 100_800})
	url, stop, err := sim.Start("127.0.0.1:0")
	must(t, err)
	defer func() { _ = stop() }()
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", url)
	cfg, err := emulator.AWSConfig(ctx)
	must(t, err)

	now := time.Now()
	poller := sqsstats.NewPoller(simClients{cw: cloudwatch.NewFromConfig(cfg)})
	for i := range 1200 {
		name := fmt.Sprintf("queue-%04d", i)
		for m := 3; m >= 1; m-- { // three datapoints a queue; the newest must win
			sim.PutValue("AWS/SQS", "ApproximateAgeOfOldestMessage", []cwsim.Dimension{{Name: "QueueName", Value: name}},
				now.Add(-time.Duration(m)*time.Minute), float64(i+m), "Seconds")
		}
		poller.Watch(types.NamespacedName{Namespace: "ns", Name: name},
			sqsstats.Target{Region: emulator.Region, Queue: queueurl.Queue{Region: emulator.Region, Account: emulator.Account, Name: name}})
	}
	for period := 1; period <= 2; period++ {
		before := sim.Calls("GetMetricData")
		poller.Poll(ctx)
		calls := sim.Calls("GetMetricData") - before
		t.Logf("period %d: %d GetMetricData calls for 1,200 queues", period, calls)
		if calls != 3 {
			t.Errorf("period %d: %d GetMetricData calls, want 3 (500 + 500 + 200 queries)", period, calls)
		}
	}
	for _, i := range []int{0, 499, 500, 1199} {
		name := fmt.Sprintf("queue-%04d", i)
		age, problem := poller.Age(types.NamespacedName{Namespace: "ns", Name: name})
		if problem != nil || age == nil || age.Age != time.Duration(i+1)*time.Second {
			t.Errorf("%s: age %+v problem %+v, want the newest datapoint, %ds", name, age, problem, i+1)
		}
	}
}
