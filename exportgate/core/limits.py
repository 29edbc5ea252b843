"""Every cap on the work one input may cause, in one place (documented in docs/webhook.md).

With ``failurePolicy: Fail`` a webhook that stalls refuses every guarded request in the cluster,
so no single object, document or tenant may make exportgate do unbounded work. Each cap is far
above anything a real workload needs (the largest real Pods have a few dozen containers and a
handful of affinity terms) and low enough that the worst object within all of them is decided
in milliseconds and a few MiB. Beyond a cap the input is refused with a message naming the cap
(HTTP 400 from the webhook, INVALID_ARGUMENT from the sidecar, exit 2 from the CLI): refusing is
the fail-closed answer, and the message says what to split or shorten.

Only constants live here, with no imports, so that the parser, the extractor, the webhook and
the sidecar can all read them without depending on each other.
"""

from __future__ import annotations

# --- documents (YAML/JSON, every reader: CLI, sidecar files, adapters, webhook bodies) -------

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists in one document. Kubernetes objects rarely exceed 20;
the parsers recurse per level, so this also keeps every reader far from Python's stack limit."""

MAX_ALIAS_NODES = 100_000
"""Nodes that YAML aliases may add to a document beyond the nodes written in it. Aliases are
expanded once, counted as they are read; an "alias bomb" (a few hundred bytes that expand to
billions of nodes) is refused before anything walks it. Documents without aliases are limited
only by their size, so reading stays linear in the input."""

# --- one object (extraction) ---------------------------------------------------------------

MAX_CONTAINERS = 256
"""Containers (regular, init and ephemeral, plus container-shaped fields adapters name) in one
object, over all its pod templates."""

MAX_PLACEMENTS = 64
"""Alternative placements (required node-affinity terms, after de-duplication) of one pod."""

MAX_ACCELERATOR_REQUESTS = 128
"""Distinct (resource, placement) pairs one object asks for, after summing counts. Each is
resolved against the catalogue and recorded with its candidate products, so this bounds the
evaluation (well under a second at the cap) and the decision record."""

MAX_RESOURCE_NAME_CHARS = 253 + 1 + 63
"""Longest container resource name read. The API server validates a container's resource names
as qualified names: an optional DNS-subdomain prefix of at most 253 characters, ``/``, and a
name of at most 63 characters of ``[A-Za-z0-9._-]`` (k8s.io/apimachinery
pkg/util/validation/validation.go, ``IsQualifiedName``, used by ``validateResourceName``; the
same syntax as label keys, https://kubernetes.io/docs/concepts/overview/working-with-objects/
labels/#syntax-and-character-set). It enforces this only in Pods; in a custom resource a
longer name, or one with characters outside printable ASCII or a space, is an unknown
accelerator without being matched against any glob (`vocabulary.possible_resource_name`), so
no regular expression runs on tenant strings of unbounded length."""

MAX_HINT_VALUE_CHARS = 64
"""Longest product-clue value (a node-label value, the product a DRA selector names, or the
instance type a Kata peer pod's ``machine_type`` annotation names: `pod_vm`) the catalogue
reads. Label values hold at most 63 characters
(https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set)
and DRA string attributes at most 64 (resource.k8s.io DeviceAttribute ``string``), so a longer
value names no node or device: it is unidentified without being normalised or matched
(`Catalogue.lookup`), and messages show only its start."""

MAX_CDI_ANNOTATION_CHARS = 4 * 1024
"""Longest CDI device-request annotation value (``cdi.k8s.io/...: nvidia.com/gpu=0,...``) that
is read. Real values name a few devices of under 100 characters each; the API server bounds a
Pod's annotations only as a whole (256 KiB), and a custom resource's pod template not at all.
A longer value is not split: it is an unknown accelerator (`device_annotations`)."""

MAX_CLAIMS = 128
"""Device claims and claim templates (DRA) one object names."""

MAX_MODEL_REFERENCES = 256
"""Distinct model references one object names."""

MAX_EXPANDED_CHARS = 16 * 1024
"""Most characters ``$(VAR)`` (and a shell line's ``$VAR``) expansion may substitute into one
value: an ``env`` value or one ``command``/``args`` entry. Each variable may name the previous
one twice, so without a cap 30 variables (about 1 KiB of manifest) expand to gigabytes. Past it
the value is unreadable: a model variable or a model flag's value is an unidentified model, a
shell line the whole line (it could name one anywhere). Real substitutions are paths, ids and
ports of a few dozen characters; literal text is not counted, so long scripts stay readable."""

MAX_EXPANSION_CHARS = 64 * 1024
"""Most characters expansion may substitute into one object (every container's ``env``,
``command``, ``args`` and ``postStart`` hook together), so that many values, or many
containers, each under `MAX_EXPANDED_CHARS` cannot add up. Past it the remaining values are
unreadable, as above."""

MAX_SCRIPT_STATEMENTS = 64
"""Simple commands a shell line (``sh -c "M=org/name; vllm serve $M"``) may hold for the model
reader to read the literals it assigns (`shell_assignments`): every command is vetted, since any
one could change a variable out of sight. Scripts that set their model are a few lines; in a
longer line the variables are left to the environment, as if the script did not set them (a
model set at run time, when the environment does not say). Bounds the per-command work on a line
of thousands of commands to a few microseconds each."""

MAX_SCRIPT_VARIABLES = 8
"""Variables set in those statements that the model reader follows (`shell_assignments`): each
is checked against the line (assigned once, not used before). Later ones are left to the
environment, as above."""

MAX_MODEL_FILES = 16
"""Distinct model file names (``-m /models/x.gguf``, ``--model /mnt/models``) one pod's command
lines and variables are looked up in the model catalogue for; each lookup runs every catalogue
pattern. Real pods load one or two. Past it a model file is an unidentified model, not read."""

MAX_MODEL_REFERENCE_CHARS = 512
"""Longest model reference that is read (real ids, URIs and ARNs are under 200 characters).
The reader makes a match form per trailing path segment, so reading is bounded by this; a
longer reference is an unidentified model (the most restrictive applies), read no further."""

MAX_EMBEDDED_CHARS = 64 * 1024
"""Longest YAML document held in a string field that is read (a Ray Serve config, an Argo pod
spec patch; real ones are a few KiB). Longer ones are not read and count as unidentified. Such
documents are read by PyYAML's Python composer (about 1 ms per KiB, up to 4 ms per KiB of dense
lists), so objects of kinds that hold them are always extracted off the webhook's event loop
(`AdapterRegistry.reads_embedded_documents`), whatever their size."""

MAX_EMBEDDED_CHARS_PER_OBJECT = 64 * 1024
"""Characters of embedded YAML documents read in one object, all of them together (an Argo
Workflow holds a pod spec patch per template; real ones are a few lines each). Once the budget
is spent the object's remaining documents are not parsed: each is unidentified (an unknown
accelerator for a patch, an unknown model for a Ray Serve config), as one past
`MAX_EMBEDDED_CHARS` is. The worst object thus costs what the largest single document does."""

# --- decisions ------------------------------------------------------------------------------

MAX_DECISION_RECORD_BYTES = 1024 * 1024
"""Largest decision-log record (its JSON). The worst object within the caps above records about
half of it; this is the last line, checked by the sidecar before anything is logged, so that no
caller (the webhook, or any gRPC client) can fill the log with one decision."""

# --- the webhook's event loop ---------------------------------------------------------------

EXTRACT_SLICE_S = 0.002
"""Longest the webhook's event loop runs extraction inline. Objects whose body is larger than
`INLINE_BODY_BYTES` are extracted on the bounded worker pool instead, so one heavy object never
holds the loop that serves every other admission."""

INLINE_BODY_BYTES = 16 * 1024
"""Bodies up to this size are extracted on the loop (well within `EXTRACT_SLICE_S` under the
caps above); larger ones go to the worker pool."""

INLINE_REQUESTS = 16
"""Workloads with more accelerator requests and model references than this are evaluated by the
sidecar on a worker thread (uncached) instead of on its event loop: at the caps an evaluation
takes tens of milliseconds, which must not hold every other caller's Evaluate."""

EXTRACT_WORKERS = 2
"""Threads extracting large objects; further large objects wait for one (within the budget)."""
