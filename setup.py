"""The one part of the build that pyproject.toml holds only experimentally: the
audit verifier's hot path in C (audit_svc/_pagecheck.c). Installing needs a C
compiler and OpenSSL's headers (gcc and libssl-dev on Debian)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "audit_svc._pagecheck",
            sources=["audit_svc/_pagecheck.c"],
            libraries=["crypto"],
            extra_compile_args=["-Wall", "-Wextra"],
        )
    ]
)
