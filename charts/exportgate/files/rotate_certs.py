"""Renew the webhook's self-signed serving certificate before it expires (the chart's CronJob).

The chart generates a long-lived CA and a shorter-lived serving certificate at install time and
keeps both on upgrades. This script, run on a schedule inside the exportgate image:

1. reads the CA Secret and the serving-certificate Secret;
2. when the serving certificate expires within ``--renew-before-days`` (or is not signed by the
   CA, or does not match its key), issues a new one from the same CA, for the same names, and
   updates the Secret with optimistic concurrency (a conflicting writer makes this run fail and
   the Job retry, never clobber);
3. makes every webhook of the chart's Validating/MutatingWebhookConfiguration trust exactly the
   CA (``caBundle``), so a configuration edited by hand or restored from an old backup heals.

Because the CA does not change, the caBundle the API server uses stays valid throughout: the
webhook pods pick the renewed files up from the Secret volume within seconds (they poll the
files), with no restart and no failed admission. A CA close to its own expiry is reported as an
error (exit 1) so that monitoring sees a failed Job: rotating the CA is a deliberate step (see
docs/helm.md), since the API server must trust old and new CA during the switch.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import sys
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from kubernetes import client, config

KINDS = ("validating", "mutating")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _secret_bytes(secret: Any, key: str) -> bytes:
    data = secret.data or {}
    if key not in data:
        raise SystemExit(f"secret {secret.metadata.name} has no {key}")
    return base64.b64decode(data[key])


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when `ca`'s key produced `cert`'s signature (not just a matching issuer name)."""
    if cert.issuer != ca.subject:
        return False
    key = ca.public_key()
    algorithm = cert.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm
            )
        else:
            return False
    except InvalidSignature:
        return False
    return True


def needs_renewal(
    leaf: x509.Certificate, ca: x509.Certificate, now: dt.datetime, renew_before: dt.timedelta
) -> str | None:
    """Why the serving certificate must be renewed now, or None."""
    if leaf.not_valid_after_utc - now <= renew_before:
        return f"expires {leaf.not_valid_after_utc.isoformat()}"
    if not signed_by(leaf, ca):
        return "not signed by the chart's CA"
    return None


def issue(
    leaf: x509.Certificate,
    ca: x509.Certificate,
    ca_key: Any,
    now: dt.datetime,
    validity: dt.timedelta,
) -> tuple[bytes, bytes]:
    """A new key and certificate for the same subject and names as `leaf`, from the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        sans = x509.SubjectAlternativeName([x509.DNSName(str(n.value)) for n in names])
    cert = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little: API servers with a slightly slow clock must accept it at once.
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(sans, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def sync_ca_bundle(api: client.AdmissionregistrationV1Api, name: str, ca_pem: bytes) -> int:
    """Point every webhook of the named configurations at the CA; how many were changed."""
    wanted = _b64(ca_pem)
    changed = 0
    for kind in KINDS:
        read = getattr(api, f"read_{kind}_webhook_configuration")
        patch = getattr(api, f"patch_{kind}_webhook_configuration")
        try:
            obj = read(name)
        except client.ApiException as exc:
            if exc.status == 404:  # the mutating webhook is optional
                continue
            raise
        ops: list[dict[str, Any]] = []
        for index, hook in enumerate(obj.webhooks or []):
            if hook.client_config.ca_bundle != wanted:
                # "test" first: if someone reordered the webhooks meanwhile, the patch fails
                # instead of giving one webhook another's settings.
                ops.append({"op": "test", "path": f"/webhooks/{index}/name", "value": hook.name})
                ops.append(
                    {
                        "op": "add",
                        "path": f"/webhooks/{index}/clientConfig/caBundle",
                        "value": wanted,
                    }
                )
                changed += 1
        if ops:
            patch(name, ops)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--tls-secret", required=True)
    parser.add_argument("--ca-secret", required=True)
    parser.add_argument("--webhook-configuration", required=True)
    parser.add_argument("--renew-before-days", type=float, default=30.0)
    parser.add_argument("--validity-days", type=float, default=365.0)
    parser.add_argument(
        "--sync-ca-bundle", action=argparse.BooleanOptionalAction, default=True,
        help="keep the webhook configurations' caBundle equal to the CA (off when the chart "
        "was given an external caBundle)",
    )  # fmt: skip
    parser.add_argument("--kubeconfig", help="default: in-cluster service account")
    args = parser.parse_args(argv)
    if args.kubeconfig:
        config.load_kube_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    else:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    core = client.CoreV1Api()
    now = dt.datetime.now(dt.UTC)

    ca_secret = core.read_namespaced_secret(args.ca_secret, args.namespace)
    ca_pem = _secret_bytes(ca_secret, "tls.crt")
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(_secret_bytes(ca_secret, "tls.key"), None)

    tls_secret = core.read_namespaced_secret(args.tls_secret, args.namespace)
    leaf = x509.load_pem_x509_certificate(_secret_bytes(tls_secret, "tls.crt"))
    reason = needs_renewal(leaf, ca, now, dt.timedelta(days=args.renew_before_days))
    if reason:
        cert_pem, key_pem = issue(leaf, ca, ca_key, now, dt.timedelta(days=args.validity_days))
        tls_secret.data = {
            "ca.crt": _b64(ca_pem),
            "tls.crt": _b64(cert_pem),
            "tls.key": _b64(key_pem),
        }
        # replace carries the resourceVersion we read: a concurrent writer makes it fail (409).
        core.replace_namespaced_secret(args.tls_secret, args.namespace, tls_secret)
        print(f"renewed serving certificate ({reason}); valid {args.validity_days:g} days")
    else:
        print(f"serving certificate valid until {leaf.not_valid_after_utc.isoformat()}")

    if args.sync_ca_bundle:
        admission = client.AdmissionregistrationV1Api()
        changed = sync_ca_bundle(admission, args.webhook_configuration, ca_pem)
        if changed:
            print(f"caBundle re-synced on {changed} webhook(s)")

    if ca.not_valid_after_utc - now <= dt.timedelta(days=args.renew_before_days):
        print(
            f"error: the webhook CA expires {ca.not_valid_after_utc.isoformat()}; rotate it "
            "as described in docs/helm.md (Certificates)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
