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

package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// tokenSeconds is the lifetime asked for; the kubelet's projected tokens
// default to an hour too.
const tokenSeconds = 3600

// automount says whether the pod gets a service-account token: the pod's
// setting wins over its service account's, and the default is yes. A pod
// without a service account name (the ServiceAccount admission plugin
// is off) gets none: a token cannot be bound to it.
func (w *podWorker) automount(ctx context.Context) (bool, error) {
	if w.pod.Spec.ServiceAccountName == "" {
		return false, nil
	}
	if w.pod.Spec.AutomountServiceAccountToken != nil {
		return *w.pod.Spec.AutomountServiceAccountToken, nil
	}
	sa, err := w.a.o.Client.CoreV1().ServiceAccounts(w.namespace).Get(ctx, w.pod.Spec.ServiceAccountName, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("service account %q: %w", w.pod.Spec.ServiceAccountName, err)
	}
	return sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken, nil
}

// writeToken asks for a token bound to the pod and writes it with the CA,
// the namespace and a kubeconfig that reads the token from its file, so
// that clients pick up refreshed tokens. It returns when to refresh it.
func (w *podWorker) writeToken(ctx context.Context) (time.Time, error) {
	tr, err := w.a.o.Client.CoreV1().ServiceAccounts(w.namespace).CreateToken(ctx, w.pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](tokenSeconds),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: w.name, UID: w.uid},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return time.Time{}, fmt.Errorf("requesting a token for service account %q: %w", w.pod.Spec.ServiceAccountName, err)
	}
	dir := filepath.Join(w.dir, "serviceaccount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return time.Time{}, err
	}
	files := map[string][]byte{
		"token":     []byte(tr.Status.Token),
		"ca.crt":    w.a.o.CAData,
		"namespace": []byte(w.namespace),
	}
	for name, data := range files {
		if err := writeAtomically(filepath.Join(dir, name), data); err != nil {
			return time.Time{}, err
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: w.a.o.APIServer, CertificateAuthority: filepath.Join(dir, "ca.crt")}
	cfg.AuthInfos["pod"] = &clientcmdapi.AuthInfo{TokenFile: filepath.Join(dir, "token")}
	cfg.Contexts["pod"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "pod", Namespace: w.namespace}
	cfg.CurrentContext = "pod"
	if err := clientcmd.WriteToFile(*cfg, w.kubeconfigPath()); err != nil {
		return time.Time{}, err
	}
	// Refresh at 80% of the lifetime, as the kubelet does.
	now := time.Now()
	return now.Add(tr.Status.ExpirationTimestamp.Sub(now) * 4 / 5), nil
}

func (w *podWorker) kubeconfigPath() string { return filepath.Join(w.dir, "kubeconfig") }

// writeAtomically replaces a file so that readers see the old or the new
// content, never a part.
func writeAtomically(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
