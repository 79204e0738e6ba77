"""The one SNMPv3 (USM, RFC 3414/3826/7860) protocol table: manifests, targets' credentials and
the trap receiver's users accept exactly the same names."""

from __future__ import annotations

from pysnmp.entity import config

AUTH_PROTOCOLS = {
    "md5": config.USM_AUTH_HMAC96_MD5,
    "sha": config.USM_AUTH_HMAC96_SHA,
    "sha1": config.USM_AUTH_HMAC96_SHA,
    "sha224": config.USM_AUTH_HMAC128_SHA224,
    "sha256": config.USM_AUTH_HMAC192_SHA256,
    "sha384": config.USM_AUTH_HMAC256_SHA384,
    "sha512": config.USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS = {
    "des": config.USM_PRIV_CBC56_DES,
    "3des": config.USM_PRIV_CBC168_3DES,
    "aes": config.USM_PRIV_CFB128_AES,
    "aes128": config.USM_PRIV_CFB128_AES,
    "aes192": config.USM_PRIV_CFB192_AES,
    "aes256": config.USM_PRIV_CFB256_AES,
    "aes192-blumenthal": config.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "aes256-blumenthal": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
}
