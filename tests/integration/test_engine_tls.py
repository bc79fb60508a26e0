"""api-ssl through community.routeros's create_api: the certificate is validated (CA file and host
name), and an untrusted certificate fails the run before anything is read or written."""
import os

import pytest

from ansible_collections.community.routeros.plugins.module_utils.api import create_api
from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import (
    PHASE1_SECTIONS,
    run_engine,
)
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import (
    EngineFailure,
    _ControllerModule,
)

CONFIG = {"profiles": [{"name": "ipsecfleet-tls", "lifetime": "4h"}]}


def params(lab, ca_path, **extra):
    values = dict(hostname="127.0.0.1", port=lab.ports["spoke1"]["api_ssl"], username="admin", password="",
                  tls=True, force_no_cert=False, validate_certs=True, validate_cert_hostname=True,
                  ca_path=ca_path, encoding="ASCII", timeout=5, state="merged", secret_update="on_change",
                  config=dict(CONFIG))
    values.update(extra)
    return values


def run(values):
    module = _ControllerModule(values)
    return run_engine(values, PHASE1_SECTIONS, lambda: create_api(module))


def test_tls_with_certificate_and_hostname_validation(lab):
    lab.reset("spoke1")
    values = params(lab, os.path.join(lab.tls_dir, "cert.pem"))
    assert run(values)["writes"] == 1
    assert run(values)["writes"] == 0


def test_untrusted_certificate_is_refused(lab, tmp_path):
    lab.reset("spoke1")
    other_ca = tmp_path / "other.pem"
    from roslab import tls
    tls.ensure_certificate(str(tmp_path / "other"))
    other_ca.write_bytes((tmp_path / "other" / "cert.pem").read_bytes())
    with pytest.raises(EngineFailure, match="Error while connecting"):
        run(params(lab, str(other_ca)))
    assert [row["name"] for row in lab.router("spoke1").items("/ip/ipsec/profile")] == ["default"]


def _set_api_ssl_certificate(lab, name, certificate):
    import librouteros
    api = librouteros.connect(host="127.0.0.1", port=lab.ports[name]["api"], username="admin", password="",
                              timeout=10)
    try:
        row = dict((r["name"], r) for r in api.path("ip", "service"))["api-ssl"]
        api.path("ip", "service").update(**{".id": row[".id"], "certificate": certificate})
    finally:
        api.close()


def test_certificate_none_needs_force_no_cert(lab):
    """A router at the factory's api-ssl certificate=none speaks only anonymous DH: the run fails
    before writing unless ipsec_api_force_no_cert (force_no_cert) is set, then converges."""
    from roslab.menus import API_SSL_CERTIFICATE
    lab.reset("spoke1")
    _set_api_ssl_certificate(lab, "spoke1", "none")
    try:
        with pytest.raises(EngineFailure, match="Error while connecting"):
            run(params(lab, None, validate_certs=False, validate_cert_hostname=False))
        assert [row["name"] for row in lab.router("spoke1").items("/ip/ipsec/profile")] == ["default"]
        values = params(lab, None, force_no_cert=True, validate_cert_hostname=False)
        assert run(values)["writes"] == 1
        assert run(values)["writes"] == 0
    finally:
        _set_api_ssl_certificate(lab, "spoke1", API_SSL_CERTIFICATE)
