// Package agent is plg's Promtail-compatible log collector: `plg
// -mode=agent` on every Kubernetes node (a DaemonSet), and the local file
// tailer of `-mode=all`. It loads a Promtail configuration file (server,
// positions, clients, scrape_configs with relabel_configs and
// pipeline_stages, limits_config, target_config) and ships every line of the
// files it finds to the ingesters exactly once through crashes, restarts,
// log rotation and ingester outages — duplicates are possible only for lines
// that were in flight when the agent died.
//
// It owns the wiring: configuration, the target sync loop, one tailer and
// pipeline per file, and the shutdown order (stop reading, drain the
// clients, save positions). The work lives in subpackages, imported one way:
//
//	entry      the entry and its acknowledgement ticket
//	positions  the positions file (FORMAT.md)
//	tail       following one file through rotation; per-file ack tracking
//	stages     pipeline stages and their configuration
//	discovery  targets: static_configs, pod log directories, relabeling, globs
//	client     batching, retries, spreading streams over ingesters
//
// It must not serve HTTP (the binary serves /ready from Ready and /metrics
// from the registry it passes to New) or decode push requests.
//
// # Delivery guarantee
//
// A tailer hands each line out with a ticket; the client completes tickets
// only after an ingester answered 2xx for the batch holding the line, or
// the batch was given up (a 4xx other than 429, or backoff_config.max_retries
// exhausted; max_retries: 0 retries forever). A file's position advances
// over the longest prefix of completed lines and is written atomically every
// positions.sync_period and at shutdown. After SIGKILL the agent resumes
// from the last written position, so lines sent after it are sent again.
//
// # Kubernetes discovery without client-go (design; not implemented)
//
// Today kubernetes_sd_configs role pod is served from the node's disk:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/ gives namespace, pod,
// uid and container, and NODE_NAME the node. Pod labels and annotations
// (app, component, the config-hash annotation of static pods) need the API.
// client-go would add tens of MB to a binary that must stay under 50 MB, so
// the plan is a minimal watch client in agent/discovery/kube:
//
//   - Credentials: the service-account token at
//     /var/run/secrets/kubernetes.io/serviceaccount/token (re-read on every
//     reconnect, it is rotated), the CA bundle beside it, and
//     KUBERNETES_SERVICE_HOST/PORT; or api_server plus TLS options.
//   - List then watch, restricted to this node so memory is O(pods on the
//     node): GET /api/v1/pods?fieldSelector=spec.nodeName=$NODE_NAME gives
//     the items and metadata.resourceVersion; then GET the same URL with
//     &watch=1&resourceVersion=<rv>&allowWatchBookmarks=true, a stream of
//     newline-delimited JSON objects {"type": ADDED|MODIFIED|DELETED|
//     BOOKMARK|ERROR, "object": {...}}. Decode only the fields used
//     (metadata.name/namespace/uid/labels/annotations/ownerReferences,
//     spec.nodeName/containers[].name/initContainers, status.podIP/phase)
//     with encoding/json into small structs.
//   - Keep a map uid -> pod; on each event recompute that pod's target label
//     sets with Prometheus' names (__meta_kubernetes_pod_label_<sanitized>,
//     _labelpresent_, _annotation_, _annotationpresent_, _controller_kind,
//     _controller_name, _container_name, _node_name, _ip, _phase,
//     _pod_uid, __meta_kubernetes_namespace) and notify the sync loop.
//   - On 410 Gone (or an ERROR event with code 410) relist; on disconnects
//     reconnect with backoff from the last seen resourceVersion; bookmarks
//     just advance it. Until the first list succeeds, and whenever the API
//     is unreachable, fall back to the disk-derived targets so logs keep
//     flowing.
//   - Test against an httptest server that serves a list and then a chunked
//     watch stream in the real format, including a 410 and a bookmark.
package agent
