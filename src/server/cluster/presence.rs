//! Who is where across the cluster, kept in Redis by Lua scripts (each runs
//! whole, so two nodes never both decide a user arrived): per room, each
//! user and on how many nodes it is there; which users are online; the
//! lobby's member counts. Each node also lists what it holds under a key
//! of its own and renews a lease; when a node stops renewing (it died),
//! the first node to notice sweeps its share out, and announces who left.
//!
//! A verdict (first arrival, last departure, a dead node's users gone) is
//! published by the script that reached it, inside it: every node hears
//! the verdicts about one user in the order Redis reached them. Published
//! by the node afterwards, two nodes' verdicts could overtake each other,
//! and a user who left and came back be shown gone.
//!
//! Everything here is rebuilt when lost: a node whose lease or share is
//! gone (Redis restarted, or it was swept while stalled) registers
//! everything it holds again.

use redis::{Script, ScriptInvocation, aio::ConnectionManager};

use crate::protocol::{DisplayName, RoomName, UserId};
use crate::server::broker::Members;

/// How long a node's lease lasts; renewed every [`RENEW_EVERY`]. A node
/// that died is swept out, and its users announced gone, within
/// `LEASE_MS` plus a renewal of another node: at most six seconds.
pub const LEASE_MS: u64 = 5_000;

/// How often a node renews its lease and looks for expired ones.
pub const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

const NODES: &str = "confab:nodes";
const LOBBY: &str = "confab:lobby";
const ONLINE: &str = "confab:online";
const NAMES: &str = "confab:names";
/// The private rooms, left out of the lobby: kept by whichever node reads a
/// room's settings (as it comes into memory, and when they change).
const PRIVATE: &str = "confab:private";

fn node_key(node: &str) -> String {
    format!("confab:node:{node}")
}

fn room_key(room: &RoomName) -> String {
    format!("confab:p:{room}")
}

/// Adds one entry of this node's (a user in a room, or a user online);
/// if the user was nowhere before, cluster-wide, publishes the verdict.
/// Returns 1 for a verdict, plus 2 if this node had no lease (it was swept
/// out while stalled, or Redis lost it): it gets one here, so that the
/// entry is swept if the node dies before it renews, and the node must
/// register everything again. KEYS: this node's set, the room's (or
/// online) hash, the lobby, the leases, the names. ARGV: the entry, the user, the
/// room (empty when online), the verdict's topic and its payload, this
/// node, the lease in ms.
const ARRIVE: &str = r"
local code = 0
if not redis.call('ZSCORE', KEYS[4], ARGV[6]) then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[4], t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[7], ARGV[6])
  code = 2
end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return code end
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) ~= 1 then return code end
if ARGV[3] ~= '' then redis.call('ZINCRBY', KEYS[3], 1, ARGV[3]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return code + 1
";

/// Removes one entry of this node's; if the user is now nowhere,
/// publishes the verdict and returns 1. A user now online nowhere (so in
/// no room either) loses their name too: names are kept for those online.
/// Same keys and arguments as ARRIVE.
const DEPART: &str = r"
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) > 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
if ARGV[3] == '' then redis.call('HDEL', KEYS[5], ARGV[2]) end
if ARGV[3] ~= '' and tonumber(redis.call('ZINCRBY', KEYS[3], -1, ARGV[3])) <= 0 then
  redis.call('ZREM', KEYS[3], ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// Renews this node's lease (Redis's clock, so nodes' clocks never
/// matter). Returns whether the lease was still there (else Redis lost it,
/// or another node swept this one out: everything this node holds must be
/// registered again), then the expired nodes. KEYS: the leases. ARGV:
/// this node, the lease in ms.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local had = redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= false
redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
return {had and 1 or 0, expired}
";

/// Sweeps out an expired node, once: what it held is removed, and for each
/// user now nowhere the verdict is published (from node ARGV[2]) and the
/// entry returned, `r <room> <user>` or `u <user>`. Nothing if its lease
/// was renewed meanwhile.
const SWEEP: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not lease or tonumber(lease) > now then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local set = 'confab:node:' .. ARGV[1]
local gone = {}
for _, entry in ipairs(redis.call('SMEMBERS', set)) do
  local room, user = string.match(entry, '^r (%S+) (%S+)$')
  local key = room and ('confab:p:' .. room) or KEYS[2]
  if not room then user = string.match(entry, '^u (%S+)$') end
  if user and redis.call('HINCRBY', key, user, -1) <= 0 then
    redis.call('HDEL', key, user)
    if room and tonumber(redis.call('ZINCRBY', KEYS[3], -1, room)) <= 0 then
      redis.call('ZREM', KEYS[3], room)
    end
    if room then
      redis.call('PUBLISH', 'confab:r:' .. room, cjson.encode({
        type = 'presence', node = ARGV[2], room = room, user = user, present = false }))
    else
      redis.call('HDEL', KEYS[4], user)
      redis.call('PUBLISH', 'confab:all', cjson.encode({
        type = 'online', node = ARGV[2], user = user, present = false }))
    end
    table.insert(gone, entry)
  end
end
redis.call('DEL', set)
return gone
";

/// Where an entry is: a room, or online.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Place {
    Room(RoomName),
    Online,
}

/// What [`Presence::arrive`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The user was nowhere else: the verdict told every node.
    pub first: bool,
    /// This node had no lease: everything it holds must be registered
    /// again.
    pub lease_lost: bool,
}

/// The scripts, loaded once, and this node's keys.
#[derive(Clone)]
pub struct Presence {
    node: String,
    node_key: String,
    arrive: Script,
    depart: Script,
    renew: Script,
    sweep: Script,
}

impl Presence {
    pub fn new(node: &str) -> Self {
        Self {
            node: node.to_owned(),
            node_key: node_key(node),
            arrive: Script::new(ARRIVE),
            depart: Script::new(DEPART),
            renew: Script::new(RENEW),
            sweep: Script::new(SWEEP),
        }
    }

    fn keys(place: &Place, user: UserId) -> (String, String, String) {
        match place {
            Place::Room(room) => (room_key(room), format!("r {room} {user}"), room.to_string()),
            Place::Online => (ONLINE.to_owned(), format!("u {user}"), String::new()),
        }
    }

    /// `user` is at `place` on this node; whether they were nowhere else
    /// (then `verdict`, published on its topic, has told every node), and
    /// whether this node's lease was gone.
    pub async fn arrive(
        &self,
        redis: &mut ConnectionManager,
        place: &Place,
        user: UserId,
        verdict: (String, String),
    ) -> redis::RedisResult<Arrival> {
        let code = self
            .change(&self.arrive, redis, place, user, verdict)
            .await?;
        Ok(Arrival {
            first: code & 1 == 1,
            lease_lost: code & 2 == 2,
        })
    }

    /// `user` left `place` on this node; whether they are now nowhere
    /// (then `verdict`, published on its topic, has told every node).
    pub async fn depart(
        &self,
        redis: &mut ConnectionManager,
        place: &Place,
        user: UserId,
        verdict: (String, String),
    ) -> redis::RedisResult<bool> {
        let code = self
            .change(&self.depart, redis, place, user, verdict)
            .await?;
        Ok(code == 1)
    }

    /// Runs ARRIVE or DEPART (same keys and arguments): what it returned.
    async fn change(
        &self,
        script: &Script,
        redis: &mut ConnectionManager,
        place: &Place,
        user: UserId,
        verdict: (String, String),
    ) -> redis::RedisResult<i64> {
        self.invocation(script, place, user, verdict)
            .invoke_async(redis)
            .await
    }

    /// ARRIVE or DEPART with its keys and arguments.
    fn invocation<'a>(
        &'a self,
        script: &'a Script,
        place: &Place,
        user: UserId,
        (topic, verdict): (String, String),
    ) -> ScriptInvocation<'a> {
        let (hash, entry, room) = Self::keys(place, user);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.node_key)
            .key(hash)
            .key(LOBBY)
            .key(NODES)
            .key(NAMES)
            .arg(entry)
            .arg(user.to_string())
            .arg(room)
            .arg(topic)
            .arg(verdict)
            .arg(&self.node)
            .arg(LEASE_MS);
        invocation
    }

    /// Registers many entries at once, in one pipeline (after Redis lost
    /// them, a node may hold thousands): each with its name and the
    /// verdict to publish if it is the user's first. Whether this node's
    /// lease was gone.
    pub async fn arrive_all(
        &self,
        redis: &mut ConnectionManager,
        entries: &[(Place, UserId, DisplayName, (String, String))],
    ) -> redis::RedisResult<bool> {
        if entries.is_empty() {
            return Ok(false);
        }
        let mut pipe = redis::pipe();
        pipe.load_script(&self.arrive).ignore();
        let names = pipe.cmd("HSET").arg(NAMES);
        for (_, user, name, _) in entries {
            names.arg(user.to_string()).arg(name.as_str());
        }
        names.ignore();
        for (place, user, _, verdict) in entries {
            pipe.invoke_script(&self.invocation(&self.arrive, place, *user, verdict.clone()));
        }
        let codes: Vec<i64> = pipe.query_async(redis).await?;
        Ok(codes.iter().any(|code| code & 2 == 2))
    }

    /// What this node's share in Redis says it holds.
    pub async fn share(
        &self,
        redis: &mut ConnectionManager,
    ) -> redis::RedisResult<Vec<(Place, UserId)>> {
        let entries: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&self.node_key)
            .query_async(redis)
            .await?;
        Ok(entries
            .iter()
            .filter_map(|entry| parse_entry(entry))
            .collect())
    }

    /// Renews this node's lease; whether it held (else this node must
    /// register everything again), and the nodes whose lease ran out.
    pub async fn renew(
        &self,
        redis: &mut ConnectionManager,
    ) -> redis::RedisResult<(bool, Vec<String>)> {
        let (held, expired): (i64, Vec<String>) = self
            .renew
            .key(NODES)
            .arg(&self.node)
            .arg(LEASE_MS)
            .invoke_async(redis)
            .await?;
        Ok((held == 1, expired))
    }

    /// Sweeps out a node whose lease ran out: who is now nowhere.
    pub async fn sweep(
        &self,
        redis: &mut ConnectionManager,
        dead: &str,
    ) -> redis::RedisResult<Vec<(Place, UserId)>> {
        let gone: Vec<String> = self
            .sweep
            .key(NODES)
            .key(ONLINE)
            .key(LOBBY)
            .key(NAMES)
            .arg(dead)
            .arg(&self.node)
            .invoke_async(redis)
            .await?;
        Ok(gone.iter().filter_map(|entry| parse_entry(entry)).collect())
    }

    /// Who is in each of `rooms`, on any node, with their names where
    /// known: two round trips whatever the number of rooms.
    pub async fn members(
        redis: &mut ConnectionManager,
        rooms: &[RoomName],
    ) -> redis::RedisResult<Vec<Members>> {
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.cmd("HKEYS").arg(room_key(room));
        }
        let listed: Vec<Vec<String>> = pipe.query_async(redis).await?;
        let listed: Vec<Vec<UserId>> = listed
            .iter()
            .map(|users| users.iter().filter_map(|u| UserId::parse(u).ok()).collect())
            .collect();
        let mut users: Vec<UserId> = listed.iter().flatten().copied().collect();
        users.sort_unstable();
        users.dedup();
        if users.is_empty() {
            return Ok(listed.into_iter().map(|_| Vec::new()).collect());
        }
        let names: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(NAMES)
            .arg(users.iter().map(ToString::to_string).collect::<Vec<_>>())
            .query_async(redis)
            .await?;
        let names: std::collections::HashMap<UserId, DisplayName> = users
            .into_iter()
            .zip(names)
            .filter_map(|(user, name)| Some((user, DisplayName::parse(name?).ok()?)))
            .collect();
        Ok(listed
            .into_iter()
            .map(|users| {
                users
                    .into_iter()
                    .map(|user| (user, names.get(&user).cloned()))
                    .collect()
            })
            .collect())
    }

    /// Records the name `user` goes by, for other nodes' member lists.
    pub async fn name(
        redis: &mut ConnectionManager,
        user: UserId,
        name: &DisplayName,
    ) -> redis::RedisResult<()> {
        redis::cmd("HSET")
            .arg(NAMES)
            .arg(user.to_string())
            .arg(name.as_str())
            .query_async(redis)
            .await
    }

    /// Everyone online on any node.
    pub async fn online(redis: &mut ConnectionManager) -> redis::RedisResult<Vec<UserId>> {
        let users: Vec<String> = redis::cmd("HKEYS").arg(ONLINE).query_async(redis).await?;
        Ok(users.iter().filter_map(|u| UserId::parse(u).ok()).collect())
    }

    /// Records whether `room` is private, for every node's lobby.
    pub async fn set_private(
        redis: &mut ConnectionManager,
        room: &RoomName,
        private: bool,
    ) -> redis::RedisResult<()> {
        let command = if private { "SADD" } else { "SREM" };
        redis::cmd(command)
            .arg(PRIVATE)
            .arg(room.as_str())
            .query_async(redis)
            .await
    }

    /// The lobby: the `limit` rooms with the most members, and how many,
    /// private rooms left out.
    pub async fn lobby(
        redis: &mut ConnectionManager,
        limit: usize,
    ) -> redis::RedisResult<Vec<(RoomName, usize)>> {
        let rooms: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(LOBBY)
            .arg("+inf")
            .arg(1)
            .arg("BYSCORE")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .arg("WITHSCORES")
            .query_async(redis)
            .await?;
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let private: Vec<bool> = redis::cmd("SMISMEMBER")
            .arg(PRIVATE)
            .arg(
                rooms
                    .iter()
                    .map(|(room, _)| room.as_str())
                    .collect::<Vec<_>>(),
            )
            .query_async(redis)
            .await?;
        Ok(rooms
            .into_iter()
            .zip(private)
            .filter(|(_, private)| !private)
            .filter_map(|((room, count), _)| Some((RoomName::parse(room).ok()?, count as usize)))
            .collect())
    }
}

/// `r <room> <user>` or `u <user>`, as a node's share lists them.
fn parse_entry(entry: &str) -> Option<(Place, UserId)> {
    let mut parts = entry.split(' ');
    let (place, user) = match (parts.next()?, parts.next()?, parts.next()) {
        ("r", room, Some(user)) => (Place::Room(RoomName::parse(room).ok()?), user),
        ("u", user, None) => (Place::Online, user),
        _ => return None,
    };
    Some((place, UserId::parse(user).ok()?))
}
