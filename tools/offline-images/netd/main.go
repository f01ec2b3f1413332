// Command netd is the pod network of servicelab's offline node image.
//
// kube-controller-manager gives every node a podCIDR. netd, one per node, writes the node's
// CNI config (ptp + host-local + portmap), routes every other node's podCIDR via that node's
// InternalIP (kind nodes share one L2 docker network) and masquerades pod traffic that leaves
// the pod network. It reconciles on a fixed period: routes are cheap and idempotent.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	cniConfigPath = "/etc/cni/net.d/10-servicelab.conflist"
	period        = 5 * time.Second
)

func main() {
	nodeName := mustEnv("NODE_NAME")
	podSubnet := mustEnv("POD_SUBNET")
	cfg, err := rest.InClusterConfig()
	if err != nil {
		log.Fatalf("in-cluster config: %v", err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	if err := masquerade(podSubnet); err != nil {
		log.Fatalf("masquerade rules: %v", err)
	}
	for {
		if err := reconcile(client, nodeName); err != nil {
			log.Printf("reconcile: %v", err)
		}
		time.Sleep(period)
	}
}

func mustEnv(name string) string {
	value := os.Getenv(name)
	if value == "" {
		log.Fatalf("environment variable %s is required", name)
	}
	return value
}

func reconcile(client kubernetes.Interface, self string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if node.Spec.PodCIDR == "" {
			continue
		}
		if node.Name == self {
			if err := writeCNIConfig(node.Spec.PodCIDR); err != nil {
				return err
			}
			continue
		}
		if ip := internalIP(node); ip != "" {
			if out, err := exec.Command("ip", "route", "replace", node.Spec.PodCIDR, "via", ip).CombinedOutput(); err != nil {
				return fmt.Errorf("route %s via %s: %v: %s", node.Spec.PodCIDR, ip, err, out)
			}
		}
	}
	return nil
}

func internalIP(node *corev1.Node) string {
	for _, addr := range node.Status.Addresses {
		if addr.Type == corev1.NodeInternalIP && !strings.Contains(addr.Address, ":") {
			return addr.Address
		}
	}
	return ""
}

func writeCNIConfig(podCIDR string) error {
	config := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "servicelab",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"mtu":    1500,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"ranges":  []any{[]any{map[string]any{"subnet": podCIDR}}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(cniConfigPath); err == nil && string(old) == string(data) {
		return nil
	}
	// Write then rename, so containerd never reads half a file.
	tmp := filepath.Join(filepath.Dir(cniConfigPath), ".10-servicelab.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	log.Printf("CNI config for podCIDR %s written", podCIDR)
	return os.Rename(tmp, cniConfigPath)
}

// masquerade installs an nftables table of our own: pod traffic to anything outside the pod
// network leaves with the node's address, so the kind network can answer it.
func masquerade(podSubnet string) error {
	rules := fmt.Sprintf(`table ip servicelab-netd {}
delete table ip servicelab-netd
table ip servicelab-netd {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[1]s ip daddr != %[1]s masquerade
	}
}
`, podSubnet)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, out)
	}
	return nil
}
