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

package main

import (
	"crypto/tls"
	"net/http"
	"testing"

	awstransport "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/queuedrainer/queue-drainer/internal/worker"
)

func TestKeepConnectionsKeepsOneForEveryCallInFlight(t *testing.T) {
	// What the AWS configuration may have set before, such as AWS_CA_BUNDLE.
	configured := awstransport.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.TLSClientConfig = &tls.Config{ServerName: "sqs.example"}
	})
	for _, tc := range []struct {
		cfg  worker.Config
		want int
	}{
		{worker.Config{}, worker.DefaultReceivers + worker.DefaultDeleters + worker.DefaultHandlers},
		{worker.Config{Receivers: 200, Deleters: 3, Handlers: 1}, 204},
		{worker.Config{Receivers: 1, Deleters: 1, Handlers: 1}, awstransport.DefaultHTTPTransportMaxIdleConnsPerHost},
	} {
		c, ok := keepConnections(configured, tc.cfg).(*awstransport.BuildableClient)
		if !ok {
			t.Fatalf("%+v: not the SDK's client any more", tc.cfg)
		}
		tr := c.GetTransport()
		if tr.MaxIdleConnsPerHost < tc.want || tr.MaxIdleConns < tc.want {
			t.Errorf("%+v: %d idle connections per host, %d in all; want at least %d", tc.cfg, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
		}
		if tr.TLSClientConfig == nil || tr.TLSClientConfig.ServerName != "sqs.example" {
			t.Errorf("%+v: the configured TLS settings were lost", tc.cfg)
		}
	}
	other := &http.Client{}
	if c := keepConnections(other, worker.Config{}); c != other {
		t.Errorf("another client was replaced by %T", c)
	}
}
