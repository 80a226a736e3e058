//! The rate limits an operator sets (`[rate_limits]`), each written as
//! "N/period": at most N at once, then N more per period, one every
//! period/N (the GCRA that `server::limits` runs). "off" sets none.

use std::{fmt, num::NonZeroU32, str::FromStr, time::Duration};

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, MapAccess, Visitor, value::MapAccessDeserializer},
};

/// One limit: "20/10s", "5/s", "100/1m", or "off".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Rate {
    Off,
    Every { burst: NonZeroU32, period: Duration },
}

impl Rate {
    const fn per(burst: u32, seconds: u64) -> Self {
        match NonZeroU32::new(burst) {
            Some(burst) => Rate::Every {
                burst,
                period: Duration::from_secs(seconds),
            },
            None => Rate::Off,
        }
    }
}

/// How often a connection (and a user, over all their connections on one
/// node) may do each thing, and how many connections one client address
/// may open. Why each default is what it is: README, "Rate limits".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// `room_message` and `direct_message`.
    pub messages: Rate,
    pub user_messages: Rate,
    /// `typing`.
    pub typing: Rate,
    pub user_typing: Rate,
    /// `join_room` and `leave_room`.
    pub joins: Rate,
    pub user_joins: Rate,
    /// `history`, `direct_history` and `list_rooms`.
    pub history: Rate,
    pub user_history: Rate,
    /// `set_name`.
    pub renames: Rate,
    pub user_renames: Rate,
    /// Messages and joins from one client address (an IPv6 /64), over all
    /// its connections and identities: a client that takes a new guest
    /// identity per connection is still one client.
    pub address_messages: Rate,
    pub address_joins: Rate,
    /// Refusals a connection may draw (rate-limited requests, invalid
    /// messages) before it is closed with 1008.
    pub refusals: Rate,
    /// WebSocket upgrades from one client address.
    pub connects_per_ip: Rate,
    /// Connections one client address may hold open; 0: no limit.
    pub open_per_ip: u32,
    /// HTTP API requests per API key.
    pub api: Rate,
    /// Sign-in attempts from one client address, and for one username
    /// (from anywhere); sign-ups from one client address.
    pub sign_ins_per_ip: Rate,
    pub sign_ins_per_account: Rate,
    pub sign_ups_per_ip: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            messages: Rate::per(20, 10),
            user_messages: Rate::per(30, 10),
            typing: Rate::per(10, 10),
            user_typing: Rate::per(20, 10),
            joins: Rate::per(100, 60),
            user_joins: Rate::per(200, 60),
            history: Rate::per(120, 60),
            user_history: Rate::per(240, 60),
            renames: Rate::per(5, 60),
            user_renames: Rate::per(10, 60),
            address_messages: Rate::per(200, 10),
            address_joins: Rate::per(1000, 60),
            refusals: Rate::per(50, 10),
            connects_per_ip: Rate::per(60, 10),
            open_per_ip: 256,
            api: Rate::per(600, 60),
            sign_ins_per_ip: Rate::per(20, 600),
            sign_ins_per_account: Rate::per(10, 600),
            sign_ups_per_ip: Rate::per(10, 3600),
        }
    }
}

impl RateLimits {
    /// Every limit off: for load tests and benchmarks, which send as fast
    /// as they can on purpose.
    pub fn off() -> Self {
        Self {
            messages: Rate::Off,
            user_messages: Rate::Off,
            typing: Rate::Off,
            user_typing: Rate::Off,
            joins: Rate::Off,
            user_joins: Rate::Off,
            history: Rate::Off,
            user_history: Rate::Off,
            renames: Rate::Off,
            user_renames: Rate::Off,
            address_messages: Rate::Off,
            address_joins: Rate::Off,
            refusals: Rate::Off,
            connects_per_ip: Rate::Off,
            open_per_ip: 0,
            api: Rate::Off,
            sign_ins_per_ip: Rate::Off,
            sign_ins_per_account: Rate::Off,
            sign_ups_per_ip: Rate::Off,
        }
    }
}

/// `rate_limits`: a table of limits, or "off" for none at all (a load
/// test, a private deployment). Errors inside the table keep their key.
pub(super) fn limits_or_off<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<RateLimits, D::Error> {
    struct LimitsOrOff;

    impl<'de> Visitor<'de> for LimitsOrOff {
        type Value = RateLimits;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of rate limits, or \"off\"")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<RateLimits, E> {
            if text.eq_ignore_ascii_case("off") {
                Ok(RateLimits::off())
            } else {
                Err(E::invalid_value(de::Unexpected::Str(text), &self))
            }
        }

        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RateLimits, M::Error> {
            RateLimits::deserialize(MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_any(LimitsOrOff)
}

/// Why a rate does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a rate: write N/period (\"20/10s\", \"5/s\", \"100/1m\"; units ms, s, m, h) or \"off\""
)]
pub struct NotARate(String);

impl FromStr for Rate {
    type Err = NotARate;

    fn from_str(text: &str) -> Result<Self, NotARate> {
        let refuse = || NotARate(text.to_owned());
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Rate::Off);
        }
        let (burst, period) = text.split_once('/').ok_or_else(refuse)?;
        let burst: NonZeroU32 = burst.trim().parse().map_err(|_| refuse())?;
        let period = period.trim();
        let unit_at = period
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(refuse)?;
        let (count, unit) = period.split_at(unit_at);
        let count: u64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| refuse())?
        };
        let millis = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(refuse()),
        };
        // At most a day: longer is a typo, and GCRA's arithmetic is in
        // nanoseconds.
        let period = count
            .checked_mul(millis)
            .filter(|ms| (1..=86_400_000).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(refuse)?;
        Ok(Rate::Every { burst, period })
    }
}

impl TryFrom<String> for Rate {
    type Error = NotARate;

    fn try_from(text: String) -> Result<Self, NotARate> {
        text.parse()
    }
}

impl From<Rate> for String {
    fn from(rate: Rate) -> String {
        rate.to_string()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Off => f.write_str("off"),
            Rate::Every { burst, period } => {
                let ms = period.as_millis();
                match ms {
                    _ if ms % 3_600_000 == 0 => write!(f, "{burst}/{}h", ms / 3_600_000),
                    _ if ms % 60_000 == 0 => write!(f, "{burst}/{}m", ms / 60_000),
                    _ if ms % 1_000 == 0 => write!(f, "{burst}/{}s", ms / 1_000),
                    _ => write!(f, "{burst}/{ms}ms"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_written_and_print_back_the_same() {
        let every = |burst, ms| Rate::Every {
            burst: NonZeroU32::new(burst).unwrap(),
            period: Duration::from_millis(ms),
        };
        for (text, rate, printed) in [
            ("20/10s", every(20, 10_000), "20/10s"),
            ("5/s", every(5, 1_000), "5/1s"),
            (" 100 / 1m ", every(100, 60_000), "100/1m"),
            ("3/90s", every(3, 90_000), "3/90s"),
            ("1/250ms", every(1, 250), "1/250ms"),
            ("2/24h", every(2, 86_400_000), "2/24h"),
            ("OFF", Rate::Off, "off"),
        ] {
            assert_eq!(text.parse::<Rate>(), Ok(rate), "{text}");
            assert_eq!(rate.to_string(), printed);
            assert_eq!(printed.parse::<Rate>(), Ok(rate));
        }
    }

    #[test]
    fn all_limits_go_off_at_once_or_one_at_a_time() {
        use crate::server::config::Settings;
        let off = Settings::from_toml("rate_limits = \"off\"").unwrap();
        assert_eq!(off.rate_limits, RateLimits::off());
        let one = Settings::from_toml("[rate_limits]\nmessages = \"off\"").unwrap();
        assert_eq!(one.rate_limits.messages, Rate::Off);
        assert_eq!(one.rate_limits.typing, RateLimits::default().typing);
        let error = Settings::from_toml("[rate_limits]\nmessages = \"20/10x\"").unwrap_err();
        assert!(
            error.to_string().contains("rate_limits.messages"),
            "{error}"
        );
        assert!(Settings::from_toml("rate_limits = \"on\"").is_err());
    }

    #[test]
    fn nonsense_is_refused_with_the_format_shown() {
        for text in [
            "", "20", "0/10s", "-1/s", "20/", "20/10", "20/10x", "20/0s", "20/25h", "x/s", "20/s/s",
        ] {
            let error = text.parse::<Rate>().unwrap_err().to_string();
            assert!(error.contains("N/period"), "{text}: {error}");
        }
    }
}
