//! [`IpCidr`]: an IP network in CIDR notation, for the `P6` whitelist.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address prefix and its length in bits, e.g. `10.0.0.0/8` or
/// `fd00::/8`. A bare address is the network of that one address (`/32` or `/128`).
///
/// Host bits below the prefix are cleared on construction, so `10.1.2.3/8` equals
/// `10.0.0.0/8`. An IPv4 network never contains an IPv6 address (IPv4-mapped IPv6
/// addresses included) and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpCidrError {
    /// The address part is not an IP address.
    #[error("invalid IP address in {0:?}")]
    Address(String),
    /// The prefix length is not a number, or exceeds the address width (32 or 128).
    #[error("invalid prefix length in {0:?}")]
    Prefix(String),
}

impl IpCidr {
    /// The network of `address` with `prefix` leading bits; `None` if `prefix` exceeds the
    /// address width (32 for IPv4, 128 for IPv6).
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let network = match address {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                IpAddr::V4(mask32(bits, prefix)?)
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                IpAddr::V6(mask128(bits, prefix)?)
            }
        };
        Some(IpCidr { network, prefix })
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `address` is in this network.
    pub fn contains(&self, address: &IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(a)) => {
                mask32(u32::from(*a), self.prefix).map(IpAddr::from) == Some(self.network)
            }
            (IpAddr::V6(_), IpAddr::V6(a)) => {
                mask128(u128::from(*a), self.prefix).map(IpAddr::from) == Some(self.network)
            }
            _ => false,
        }
    }
}

/// `bits` with all but the `prefix` leading bits cleared; `None` for a prefix over 32.
fn mask32(bits: u32, prefix: u8) -> Option<std::net::Ipv4Addr> {
    let mask = match prefix {
        0 => 0,
        1..=32 => u32::MAX << (32 - u32::from(prefix)),
        _ => return None,
    };
    Some((bits & mask).into())
}

/// `bits` with all but the `prefix` leading bits cleared; `None` for a prefix over 128.
fn mask128(bits: u128, prefix: u8) -> Option<std::net::Ipv6Addr> {
    let mask = match prefix {
        0 => 0,
        1..=128 => u128::MAX << (128 - u32::from(prefix)),
        _ => return None,
    };
    Some((bits & mask).into())
}

impl From<IpAddr> for IpCidr {
    /// The network of exactly this address.
    fn from(address: IpAddr) -> Self {
        let prefix = if address.is_ipv4() { 32 } else { 128 };
        IpCidr {
            network: address,
            prefix,
        }
    }
}

impl FromStr for IpCidr {
    type Err = IpCidrError;

    /// Parses `address/prefix`, or a bare address.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| IpCidrError::Address(s.to_owned()))?;
        match prefix {
            None => Ok(IpCidr::from(address)),
            Some(p) => p
                .parse::<u8>()
                .ok()
                .and_then(|p| IpCidr::new(address, p))
                .ok_or_else(|| IpCidrError::Prefix(s.to_owned())),
        }
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_masks_and_contains() {
        let net: IpCidr = "10.1.2.3/16".parse().unwrap();
        assert_eq!(net.to_string(), "10.1.0.0/16");
        assert_eq!(net, "10.1.0.0/16".parse().unwrap());
        assert!(net.contains(&ip("10.1.255.255")));
        assert!(!net.contains(&ip("10.2.0.0")));
        assert!(
            !net.contains(&ip("::ffff:10.1.0.1")),
            "no cross-family match"
        );
        let all: IpCidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(&ip("255.255.255.255")));
        let one: IpCidr = "192.0.2.7".parse().unwrap();
        assert_eq!(one.prefix(), 32);
        assert!(one.contains(&ip("192.0.2.7")) && !one.contains(&ip("192.0.2.8")));
        let v6: IpCidr = "2001:db8::1/32".parse().unwrap();
        assert_eq!(v6.network(), ip("2001:db8::"));
        assert!(v6.contains(&ip("2001:db8:ffff::1")));
        assert!(!v6.contains(&ip("2001:db9::")));
        assert!("::/0".parse::<IpCidr>().unwrap().contains(&ip("::1")));
        let host: IpCidr = "::1/128".parse().unwrap();
        assert!(host.contains(&ip("::1")));
    }

    #[test]
    fn refuses_bad_input() {
        assert!(matches!(
            "10.0.0.0/33".parse::<IpCidr>(),
            Err(IpCidrError::Prefix(_))
        ));
        assert!(matches!(
            "::/129".parse::<IpCidr>(),
            Err(IpCidrError::Prefix(_))
        ));
        assert!(matches!(
            "10.0.0.0/x".parse::<IpCidr>(),
            Err(IpCidrError::Prefix(_))
        ));
        assert!(matches!(
            "10.0.0/8".parse::<IpCidr>(),
            Err(IpCidrError::Address(_))
        ));
        assert!(IpCidr::new(ip("10.0.0.0"), 40).is_none());
    }
}
