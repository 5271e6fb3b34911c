package soak

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/testutils"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// Scenario 8: bad inputs mixed into a churn round of good pods. Every bad
// ADD gets a clean CNI error (its kind's code, a message naming the pod,
// the network and the field), no plugin panics, nothing is left in the
// pod's netns, on the node or in the store, and every good pod gets its
// networks as if the bad ones were not there.
func TestBadInputGetsCleanErrorsAndLeavesNothing(t *testing.T) {
	eachImplementation(t, func(t *testing.T, c *cluster) {
		const namespace = "badinput"
		ctx := context.Background()
		cases := badInputs("macvlan")
		nBad := max(c.scale.Pods, len(cases))
		nGood := max(c.scale.Pods/2, len(c.nodes))
		p := newPool("10.20.44.0/22", nGood+10)
		ensureNetwork(t, c, namespace, p)
		for name, conf := range badNADs(c.impl.networkConfig(c, "macvlan", p)) {
			nad := &nadv1.NetworkAttachmentDefinition{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				Spec: nadv1.NetworkAttachmentDefinitionSpec{Config: conf}}
			if _, err := c.kube.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions(namespace).Create(ctx, nad, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create NAD %s/%s: %v", namespace, name, err)
			}
		}
		res := newResult(c, "bad-input", nGood+nBad, 1, p.size())

		progressf("bad-input: %d good pods and %d bad inputs of %d variants", nGood, nBad, len(cases))
		good, err := createPods(ctx, c, namespace, "good", "macvlan", nGood)
		if err != nil {
			t.Fatal(err)
		}
		bad, err := createBadPods(ctx, c, namespace, cases, nBad)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := delPods(c, good); err != nil {
				t.Error(err)
			}
			deletePodObjects(c, runsOf(bad))
			for _, p := range runsOf(bad) {
				if p.netns != nil {
					testenv.RemoveNS(p.netns)
				}
			}
		})

		var add *phase
		var addErr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			add, addErr = addPods(c, good, sandboxPolicy{retry: true})
		}()
		tally, err := sendBadInputs(c, bad)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if addErr != nil {
			t.Fatal(addErr)
		}
		res.addPhase(add, true)
		for _, k := range tally.kinds() {
			res.Adds += k.Inputs
			for code, n := range k.Codes {
				if code != "ok" {
					res.Errors[code] += n
				}
			}
		}
		res.Dels += len(bad)
		res.Retries += tally.retries
		res.Kinds = tally.kinds()
		report := c.expect(t)
		for _, prob := range tally.problems() {
			report("%s", prob)
		}
		if n := notLive(good); n > 0 || add.failed() > add.Errors["11"] {
			report("%d of %d good pods without a network beside the bad inputs; their ADD errors by code %v, first %v",
				n, len(good), add.Errors, add.FirstErrors)
		}
		all := append(append([]*podRun{}, good...), runsOf(bad)...)
		took, dups, leaks := requireClean(t, c, all, "good pods live, bad inputs refused")
		res.ConvergeMs, res.Duplicates, res.Leaks = float64(took.Milliseconds()), dups, leaks

		del, err := delPods(c, good)
		if err != nil {
			t.Fatal(err)
		}
		res.addPhase(del, false)
		deletePodObjects(c, runsOf(bad))
		took, dups, leaks = requireClean(t, c, all, "every pod deleted")
		res.ConvergeMs = max(res.ConvergeMs, float64(took.Milliseconds()))
		res.Duplicates, res.Leaks = res.Duplicates+dups, res.Leaks+leaks

		files, err := evilFiles(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			report("a file named after a path-like input: %s", f)
		}
		res.Leaks += len(files)
		panics, first, err := panicsInLogs(c)
		if err != nil {
			t.Fatal(err)
		}
		if panics > 0 {
			report("%d lines of the plugins' logs show a panic; first %v", panics, first)
		}
		res.setLatencies(add, del)
		res.AgentPeakRSSMB = agentPeakRSS(c)
		for _, k := range res.Kinds {
			t.Logf("%s (want %s): %d inputs, %v; unclean %d, panics %d, left behind %d, DEL errors %v",
				k.Kind, k.Want, k.Inputs, k.Codes, k.Unclean, k.Panics, k.LeftBehind, k.DelErrors)
		}
		saveResult(res)
	})
}

// badPod is a pod object the runtime sends a bad input for.
type badPod struct {
	run *podRun
	in  badInput
}

func runsOf(bad []badPod) []*podRun {
	out := make([]*podRun, 0, len(bad))
	for _, b := range bad {
		if b.run != nil {
			out = append(out, b.run)
		}
	}
	return out
}

// podRunOf is the kubelet's view of a pod object on node nd, as
// createPods makes it.
func podRunOf(obj *corev1.Pod, nd *node) *podRun {
	id := "c" + strings.ReplaceAll(string(obj.UID), "-", "")
	return &podRun{namespace: obj.Namespace, name: obj.Name, uid: string(obj.UID), node: nd, baseID: id, rt: &libcni.RuntimeConf{
		ContainerID: id, IfName: "eth0",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", obj.Namespace}, {"K8S_POD_NAME", obj.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", id}, {"K8S_POD_UID", string(obj.UID)}},
	}}
}

// createBadPods creates n pod objects, the ith carrying cases[i%len]'s
// annotations, spread over the nodes.
func createBadPods(ctx context.Context, c *cluster, namespace string, cases []badInput, n int) ([]badPod, error) {
	pods := make([]badPod, n)
	var errs []error
	for i := range pods {
		bc := cases[i%len(cases)]
		ann := map[string]string{}
		if bc.networks != "" {
			ann[nadv1.NetworkAttachmentAnnot] = bc.networks
		}
		if bc.defaultNetwork != "" {
			ann["v1.multus-cni.io/default-network"] = bc.defaultNetwork
		}
		nd := c.nodes[i%len(c.nodes)]
		obj, err := c.kube.Clientset().CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bad-%d", i), Namespace: namespace, Annotations: ann},
			Spec:       corev1.PodSpec{NodeName: nd.name, Containers: []corev1.Container{{Name: "c", Image: "example.invalid/app"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("create pod %s/bad-%d (%s): %w", namespace, i, bc.name, err))
			continue
		}
		pods[i] = badPod{run: podRunOf(obj, nd), in: bc}
	}
	return pods, errors.Join(errs...)
}

// deletePodObjects deletes the pods' objects, as the kubelet's pods go
// once their sandboxes are gone.
func deletePodObjects(c *cluster, pods []*podRun) {
	zero := int64(0)
	for _, p := range pods {
		if p != nil {
			_ = c.kube.Clientset().CoreV1().Pods(p.namespace).Delete(context.Background(), p.name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
	}
}

// sendBadInputs is the runtime's ADD of every bad pod on its node (at
// most perNodeConcurrency calls at a time, beside the good pods' ADDs),
// each checked as it returns, then its DEL, as the runtime DELs a failed
// sandbox.
func sendBadInputs(c *cluster, bad []badPod) (*badTally, error) {
	lists, err := runtimeLists(c)
	if err != nil {
		return nil, err
	}
	tally := &badTally{byKey: map[string]*KindResult{}, byCase: map[string][]string{}}
	var mu sync.Mutex
	var setupErrs []error
	in := map[*podRun]badInput{}
	for _, b := range bad {
		if b.run != nil {
			in[b.run] = b.in
		}
	}
	eachOnNode(runsOf(bad), func(p *podRun) {
		bc := in[p]
		netns, err := testutils.NewNS()
		if err == nil {
			err = setLoopbackUp(netns)
		}
		if err != nil {
			mu.Lock()
			setupErrs = append(setupErrs, fmt.Errorf("pod %s: netns: %w", p.key(), err))
			mu.Unlock()
			return
		}
		p.netns, p.rt.NetNS = netns, netns.Path()
		list := lists[p.node.name]
		call := newRawCall(p, list)
		if bc.call != nil {
			bc.call(call)
		}
		// Code 11 is the plugin's right answer to an overloaded API
		// server; the kubelet retries it, and the last answer counts.
		var add, del callOutcome
		var links []string
		for attempt := 1; ; attempt++ {
			add = call.run(p.node, list, "ADD")
			var lerr error
			if links, lerr = podLinks(netns); lerr != nil {
				links = []string{"unreadable: " + lerr.Error()}
			}
			del = call.run(p.node, list, "DEL")
			if add.err == nil || cniCode(add.err) != "11" || attempt == maxSandboxAttempts || len(links) > 0 {
				break
			}
			tally.retried()
			<-p.node.kubelet
			time.Sleep(backOff())
			p.node.kubelet <- struct{}{}
			if call.containerID == p.rt.ContainerID {
				p.newSandboxID(attempt)
				call.containerID = p.rt.ContainerID
				call.setArg("K8S_POD_INFRA_CONTAINER_ID", p.rt.ContainerID)
			}
		}
		tally.record(p, bc, add, del, links)
		if add.err == nil || del.err == nil || len(links) == 0 {
			testenv.RemoveNS(netns)
			p.netns = nil
		}
	})
	return tally, errors.Join(setupErrs...)
}
