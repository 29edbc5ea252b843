"""A real Kubernetes control plane (etcd + kube-apiserver) for tests and the demo.

``build`` compiles the binaries from their Go modules into a cache outside the
repository; ``local_cluster`` starts them on loopback ports with generated
certificates; ``fixtures`` exposes them to pytest.
"""
