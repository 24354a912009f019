//! Where webhooks may go: public internet addresses only, checked when an endpoint is registered and
//! again at every connection (the client's resolver hands it only public addresses).

use std::net::IpAddr;

/// Whether `ip` is on the public internet (not loopback, private, link-local, shared, reserved,
/// documentation, unspecified, ...). An IPv6 address that carries an IPv4 one (mapped, compatible,
/// NAT64, 6to4) is as public as the address it carries.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || a == 100 && (64..128).contains(&b)
                || a == 192 && b == 0 && c == 0
                || a == 198 && (18..20).contains(&b))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let carried = |hi: u16, lo: u16| {
                public(IpAddr::V4(std::net::Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                )))
            };
            if v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() {
                return false;
            }
            match s {
                // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d).
                [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => carried(hi, lo),
                // NAT64, well-known and local-use prefixes.
                [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => carried(hi, lo),
                [0x64, 0xff9b, 1, ..] => false,
                // 6to4 carries the IPv4 address of its relay.
                [0x2002, hi, lo, ..] => carried(hi, lo),
                // Unique local, link-local, documentation.
                [first, second, ..] => {
                    (first & 0xfe00) != 0xfc00
                        && (first & 0xffc0) != 0xfe80
                        && !(first == 0x2001 && second == 0x0db8)
                }
            }
        }
    }
}

/// The webhook client's resolver: a name resolves to its public addresses only, so the address the
/// client connects to is one that was checked, even if the name's records changed since the
/// endpoint was registered (DNS rebinding).
pub(super) struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "::127.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::5db8:d822",
            "2002:7f00:1::1",
            "2001:db8::1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.1",
        ] {
            assert!(!public(private.parse().expect("ip")), "{private}");
        }
        for open in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "64:ff9b::93.184.216.34",
            "2002:5db8:d822::1",
        ] {
            assert!(public(open.parse().expect("ip")), "{open}");
        }
    }

    #[tokio::test]
    async fn the_client_connects_only_to_public_addresses() {
        use reqwest::dns::Resolve;
        // `localhost` resolves to loopback: the client never connects there, whatever was checked.
        let name: reqwest::dns::Name = "localhost".parse().expect("a name");
        let refused = PublicOnly.resolve(name).await;
        assert!(
            refused.is_err_and(|e| e.to_string().contains("no public address")),
            "loopback was offered"
        );
    }
}
