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

package sqsstats

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Clients builds and caches SDK clients per region and role from one base
// configuration (the SDK's default credential chain, and its standard
// AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_CLOUDWATCH endpoint variables).
type Clients struct {
	Base aws.Config

	mu sync.Mutex
	m  map[[2]string]*clientPair
}

type clientPair struct {
	sqs *sqs.Client
	cw  *cloudwatch.Client
}

// SQS implements ClientSource.
func (c *Clients) SQS(region, roleARN string) SQSAPI { return c.pair(region, roleARN).sqs }

// CloudWatch implements ClientSource.
func (c *Clients) CloudWatch(region, roleARN string) CloudWatchAPI { return c.pair(region, roleARN).cw }

func (c *Clients) pair(region, roleARN string) *clientPair {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]string{region, roleARN}
	if p, ok := c.m[key]; ok {
		return p
	}
	cfg := c.Base.Copy()
	cfg.Region = region
	cfg.APIOptions = append(cfg.APIOptions, recordCalls)
	if roleARN != "" {
		// Credentials of the assumed role, refreshed before they expire.
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), roleARN,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "queue-drainer" }))
	}
	p := &clientPair{sqs: sqs.NewFromConfig(cfg), cw: cloudwatch.NewFromConfig(cfg)}
	if c.m == nil {
		c.m = map[[2]string]*clientPair{}
	}
	c.m[key] = p
	return p
}
