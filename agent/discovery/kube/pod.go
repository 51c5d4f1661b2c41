package kube

import (
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// Pod holds the fields of a v1.Pod the agent uses.
type Pod struct {
	Metadata struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		UID             string            `json:"uid"`
		ResourceVersion string            `json:"resourceVersion"`
		Labels          map[string]string `json:"labels"`
		Annotations     map[string]string `json:"annotations"`
		OwnerReferences []struct {
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			Controller *bool  `json:"controller"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		NodeName       string      `json:"nodeName"`
		Containers     []Container `json:"containers"`
		InitContainers []Container `json:"initContainers"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		HostIP     string `json:"hostIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

// Container is a pod container.
type Container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

const meta = "__meta_kubernetes_"

// sanitize makes a Kubernetes label or annotation name a label-name
// suffix, as Prometheus does: every byte outside [a-zA-Z0-9_] becomes '_'.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Targets returns one label set per container (init containers included),
// named as Prometheus' kubernetes_sd pod role names them.
func (p *Pod) Targets() []labels.Labels {
	b := labels.NewBuilder(labels.EmptyLabels())
	b.Set(meta+"namespace", p.Metadata.Namespace)
	b.Set(meta+"pod_name", p.Metadata.Name)
	b.Set(meta+"pod_uid", p.Metadata.UID)
	b.Set(meta+"pod_node_name", p.Spec.NodeName)
	b.Set(meta+"pod_ip", p.Status.PodIP)
	b.Set(meta+"pod_host_ip", p.Status.HostIP)
	b.Set(meta+"pod_phase", p.Status.Phase)
	ready := "unknown"
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			ready = strings.ToLower(c.Status)
		}
	}
	b.Set(meta+"pod_ready", ready)
	for k, v := range p.Metadata.Labels {
		n := sanitize(k)
		b.Set(meta+"pod_label_"+n, v)
		b.Set(meta+"pod_labelpresent_"+n, "true")
	}
	for k, v := range p.Metadata.Annotations {
		n := sanitize(k)
		b.Set(meta+"pod_annotation_"+n, v)
		b.Set(meta+"pod_annotationpresent_"+n, "true")
	}
	for _, o := range p.Metadata.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			b.Set(meta+"pod_controller_kind", o.Kind)
			b.Set(meta+"pod_controller_name", o.Name)
			break
		}
	}
	if p.Status.PodIP != "" {
		b.Set("__address__", p.Status.PodIP)
	}
	base := b.Labels()
	var out []labels.Labels
	add := func(c Container, init bool) {
		cb := labels.NewBuilder(base)
		cb.Set(meta+"pod_container_name", c.Name)
		cb.Set(meta+"pod_container_image", c.Image)
		if init {
			cb.Set(meta+"pod_container_init", "true")
		} else {
			cb.Set(meta+"pod_container_init", "false")
		}
		out = append(out, cb.Labels())
	}
	for _, c := range p.Spec.InitContainers {
		add(c, true)
	}
	for _, c := range p.Spec.Containers {
		add(c, false)
	}
	return out
}
