"""The Redis broker: pub/sub fan-out with a capped stream per room to fill gaps.

Redis pub/sub is at-most-once: a dropped subscription or a Redis restart loses
whatever was in flight. So every message is written, in one atomic Lua step,
to three places: the room's `seq` counter (INCR), the room's capped stream
(XADD with the seq as the entry id) and the pub/sub channel. A subscriber that
sees a seq jump, or comes back after a reconnect, reads what it missed from the
stream before delivering anything newer. Numbering survives a Redis restart
that lost the counter: each publish carries the last seq this worker saw as a
floor, and the script never numbers below it.

A publish the worker gave up on (Redis hung or the link stalled past the
socket timeout, so the sender was told `unavailable`) must not appear later
when the held bytes finally arrive. Each publish therefore carries a deadline
on Redis's own clock (the offset to ours is measured with TIME in every
batch), and the script refuses to run after it. When a pipeline fails after it
was sent, its publishes are answered with what the room streams show once
Redis's clock is past that deadline: a publish Redis ran after all is acked,
not reported lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError, RedisError

from chatserver.brokers.base import Broker, BrokerListener, PublishDone
from chatserver.errors import Deleted, Unavailable

log = logging.getLogger(__name__)

PREFIX = "chatserver"
MSG_CHANNEL = f"{PREFIX}:messages"
EVT_CHANNEL = f"{PREFIX}:events"
STREAM_MAXLEN = 2000
PING_EVERY_S = 2.0
PONG_DEADLINE_S = 4.0
MAX_PIPELINE = 512
#: Seconds a pipeline may wait for its replies before its senders are told `unavailable`.
REPLY_TIMEOUT_S = 3.0
#: A publish that Redis reaches later than this after it was sent is refused, not applied:
#: by then its sender may have been told `unavailable`. Kept well inside REPLY_TIMEOUT_S.
PUBLISH_DEADLINE_S = 2.0
#: What the publish script returns when it ran past its deadline.
TOO_LATE = -1
#: What it returns for a message a host deleted before it was published.
DELETED = -2
#: After a pipeline failed mid-way, how long we may take to find out what Redis published.
SETTLE_S = 1.5

SHUTTING_DOWN = "The server is shutting down; nothing was published"
UNREACHABLE = "The message service is unavailable; nothing was published"
REFUSED = "The message service refused the message; nothing was published"

# KEYS: seq key, stream key, deleted key.
# ARGV: floor, body (JSON object without seq), id, room, channel, maxlen, deadline (ms, Redis clock; 0: none).
_PUBLISH_LUA = """
local deadline = tonumber(ARGV[7])
if deadline > 0 then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > deadline then
    return -1
  end
end
if redis.call('ZSCORE', KEYS[3], ARGV[3]) then
  return -2
end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if cur == 0 then
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if top[1] then
    local last = tonumber(string.match(top[1][1], '^(%d+)'))
    if last > floor then floor = last end
  end
end
if cur < floor then cur = floor end
cur = cur + 1
redis.call('SET', KEYS[1], cur)
local frame = '{"seq":' .. cur .. ',' .. string.sub(ARGV[2], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], cur .. '-1', 'id', ARGV[3], 'f', frame)
redis.call('PUBLISH', ARGV[5], ARGV[4] .. ' ' .. cur .. ' ' .. ARGV[3] .. ' ' .. frame)
return cur
"""

_PUBLISH_SHA = hashlib.sha1(_PUBLISH_LUA.encode()).hexdigest()

# KEYS: deleted key, stream key, versions key. ARGV: id, now (s), keep, scan, room.
# A deletion is remembered (so a publish still in flight for it is refused) and the entry leaves the
# stream, found by its id: its seq may not be known yet to the worker that deletes it.
_DELETE_LUA = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', tonumber(ARGV[4]))
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' and fields[i + 1] == ARGV[1] then
      redis.call('XDEL', KEYS[2], entry[1])
      return 1
    end
  end
end
return 0
"""
#: Deletions remembered per room: far more than could ever be in flight.
DELETED_KEEP = 10_000

# KEYS: seq key. ARGV: known seq. Raise the counter to at least what the audit log knows.
_SEED_LUA = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return cur
"""


#: A stream entry as this broker reads it: its id and its fields.
StreamEntry = tuple[bytes, dict[bytes, bytes]]


def _entries(reply: object) -> list[StreamEntry]:
    """An XRANGE or XREVRANGE reply, typed: all bytes, as the client never decodes replies (redis-py's
    types allow for a client that does)."""
    return cast(list[StreamEntry], reply)


def _redis_ms(seconds: int | bytes, micros: int | bytes) -> float:
    """A TIME reply as milliseconds on Redis's clock."""
    return int(seconds) * 1000 + int(micros) / 1000


def _answer(item: tuple[Any, ...], seq: int | None, error: BaseException | None) -> None:
    """Settle one queued publish; a failing callback is logged and never stops the publisher."""
    try:
        item[4](seq, error)
    except Exception:
        log.exception("answering publish of message %s failed", item[2])


def _seq_key(room: str) -> str:
    return f"{PREFIX}:room:{room}:seq"


def _stream_key(room: str) -> str:
    return f"{PREFIX}:room:{room}:log"


def deleted_key(room: str) -> str:
    return f"{PREFIX}:room:{room}:deleted"


#: room -> a counter raised by every change of the room's shared state (chatserver/resync.py).
VERSIONS_KEY = f"{PREFIX}:versions"


class RedisBroker(Broker):
    """Fan-out through Redis pub/sub, numbered and gap-filled through per-room streams."""

    name = "redis"
    distributed = True

    def __init__(self, url: str, *, worker_id: str) -> None:
        super().__init__(worker_id=worker_id)
        self.url = url
        # One pool per worker, shared with the store (see open_backend). Blocking: bursts (many people
        # leaving at once) wait briefly for a connection instead of failing "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=5,
            socket_timeout=REPLY_TIMEOUT_S,
            socket_connect_timeout=2,
            health_check_interval=0,
        )
        self._redis = aioredis.Redis.from_pool(pool)
        #: Redis's clock minus ours, in ms; None until measured (then publishes carry no deadline).
        self._clock_offset_ms: float | None = None
        self._seed_script = self._redis.register_script(_SEED_LUA)
        self._delete_script = self._redis.register_script(_DELETE_LUA)
        self._listener: BrokerListener | None = None
        self._last: dict[str, int] = {}
        # Bounded: a publisher that cannot reach Redis fails callers with `unavailable`
        # rather than letting the queue grow without limit.
        self._outbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue(maxsize=50_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def client(self) -> aioredis.Redis:
        """The worker's Redis client (the shared store uses it too); closed with the broker."""
        return self._redis

    # ---- lifecycle ---------------------------------------------------------
    async def start(self, listener: BrokerListener, rooms: list[str], known_seqs: dict[str, int]) -> None:
        self._listener = listener
        try:
            await self._seed(rooms, known_seqs)
        except NoPermissionError as exc:
            raise Unavailable(
                f"Redis at {self._safe_url()} refused a command to this user ({exc}): its ACL must allow "
                "the commands listed in docs/deploy.md (section Redis) on the chatserver:* keys"
            ) from None
        except (RedisError, OSError) as exc:
            raise Unavailable(
                f"Redis at {self._safe_url()} did not answer ({exc.__class__.__name__}): "
                "start redis-server or fix --redis / CHATSERVER_REDIS_URL"
            ) from None
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._subscriber(subscribed), name="redis-subscriber"),
            asyncio.create_task(self._publisher(), name="redis-publisher"),
        ]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(subscribed.wait(), 5)

    def add_rooms(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        for room in rooms:
            self._last.setdefault(room, known_seqs.get(room, 0))

    async def _seed(self, rooms: list[str], known_seqs: dict[str, int]) -> None:
        # Every pipeline loads the script again; this first load and TIME check, at start, that
        # this Redis user may run them at all.
        await self._redis.script_load(_PUBLISH_LUA)
        self._observe_clock(*await self._redis.time())
        for room in rooms:
            known = known_seqs.get(room, 0)
            await self._seed_script(keys=[_seq_key(room)], args=[known])
            top = _entries(await self._redis.xrevrange(_stream_key(room), count=1))
            stream_last = int(top[0][0].split(b"-")[0]) if top else 0
            self._last[room] = max(known, stream_last)

    async def close(self) -> None:
        self._closing = True
        # Let queued publishes go out before we stop, so nothing accepted is dropped.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drain_outbox(), 3)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    async def _drain_outbox(self) -> None:
        while not self._outbox.empty():
            await asyncio.sleep(0.01)

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 2))
        except (TimeoutError, RedisError, OSError):
            return False

    def _safe_url(self) -> str:
        # Never print a password that may be in the URL.
        if "@" in self.url:
            scheme, rest = self.url.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return self.url

    # ---- publishing --------------------------------------------------------
    def publish_message(self, room: str, message_id: str, body: bytes, done: PublishDone) -> None:
        try:
            self._outbox.put_nowait(("m", room, message_id, body, done))
        except asyncio.QueueFull:
            done(None, Unavailable("The broker is backed up; try again in a moment"))

    def publish_event(self, envelope: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # events are best effort
            self._outbox.put_nowait(("e", orjson.dumps(envelope)))

    async def delete_message(self, room: str, message_id: str) -> None:
        await self._delete_script(
            keys=[deleted_key(room), _stream_key(room), VERSIONS_KEY],
            args=[message_id, int(time.time()), DELETED_KEEP, STREAM_MAXLEN + 100, room],
        )

    async def _publisher(self) -> None:
        """Send everything queued in one pipeline per round trip, in queue order."""
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < MAX_PIPELINE and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            again = await self._publish_once(batch, retry_late=True)
            if again:  # "too late" at once: our estimate of Redis's clock was off; it is corrected now
                await self._publish_once(again, retry_late=False)

    async def _publish_once(self, batch: list[tuple[Any, ...]], *, retry_late: bool) -> list[tuple[Any, ...]]:
        """Send one pipeline and answer every publish in it; returns those to send again."""
        deadline = self._deadline_ms()
        floors = {item[1]: self._last.get(item[1], 0) for item in batch if item[0] == "m"}
        started = time.monotonic()
        try:
            results = await self._send_batch(batch, deadline, floors)
        except asyncio.CancelledError:
            self._fail(batch, Unavailable(SHUTTING_DOWN))
            raise
        except Exception as exc:  # Redis down, hung or slow: what was sent may or may not have run
            log.warning("publishing to Redis failed: %s", exc.__class__.__name__)
            # What queued up behind it was never sent: fail it at once. With Redis down or hung each
            # further pipeline would wait out its own timeout, and senders (or a shutdown) wait on them.
            queued = []
            while not self._outbox.empty():
                queued.append(self._outbox.get_nowait())
            self._fail(queued, Unavailable(UNREACHABLE))
            await self._settle_unknown(batch, deadline, floors)
            return []
        quick = retry_late and time.monotonic() - started < PUBLISH_DEADLINE_S / 2
        again = []
        for item, result in zip(batch, results, strict=True):
            if item[0] != "m":
                continue
            if result == TOO_LATE and quick:
                again.append(item)  # it ran at once, yet "too late": only a clock error explains that
            elif result == DELETED:
                _answer(item, None, Deleted("A host deleted this message; it was not published"))
            elif isinstance(result, BaseException) or result == TOO_LATE:
                _answer(item, None, Unavailable(REFUSED))
            else:
                _answer(item, int(result), None)
        return again

    async def _send_batch(
        self, batch: list[tuple[Any, ...]], deadline: int, floors: dict[str, int]
    ) -> list[Any]:
        """One pipeline: SCRIPT LOAD, the batch, TIME; returns the batch's results."""
        pipe = self._redis.pipeline(transaction=False)
        # Loaded in every round trip (Redis only hashes it when it has it), so a Redis that restarted
        # or was flushed never answers NOSCRIPT. EVALSHA goes straight into the pipeline: redis-py's
        # Script objects would first ask SCRIPT EXISTS, in a round trip of its own.
        pipe.script_load(_PUBLISH_LUA)
        for item in batch:
            if item[0] == "m":
                _, room, message_id, body, _done = item
                keys = (_seq_key(room), _stream_key(room), deleted_key(room))
                args = (floors[room], body, message_id, room, MSG_CHANNEL, STREAM_MAXLEN, deadline)
                pipe.execute_command("EVALSHA", _PUBLISH_SHA, 3, *keys, *args)
            else:
                pipe.publish(EVT_CHANNEL, item[1])
        pipe.time()
        results = await pipe.execute(raise_on_error=False)
        clock = results.pop()
        if not isinstance(clock, BaseException):
            self._observe_clock(*clock)
        return results[1:]

    async def _settle_unknown(
        self, batch: list[tuple[Any, ...]], deadline: int, floors: dict[str, int]
    ) -> None:
        """A pipeline failed after it was sent: answer each publish with what Redis did.

        Once Redis's clock is past the deadline, a publish that is not in its room's stream never
        will be. If Redis does not say within SETTLE_S, the senders hear `unavailable`: the deadline
        still keeps a publish that had not run from running later.
        """
        messages = [item for item in batch if item[0] == "m"]
        if not messages:
            return
        found: dict[str, int] = {}
        try:
            found = await asyncio.wait_for(self._published_since(floors, deadline), SETTLE_S)
        except asyncio.CancelledError:
            self._fail(messages, Unavailable(SHUTTING_DOWN))
            raise
        except Exception as exc:
            log.warning("could not tell what Redis published (%s)", exc.__class__.__name__)
        for item in messages:
            seq = found.get(item[2])
            if seq is not None:
                _answer(item, seq, None)
            else:
                _answer(item, None, Unavailable(UNREACHABLE))

    async def _published_since(self, floors: dict[str, int], deadline: int) -> dict[str, int]:
        """message id -> seq of what each room's stream holds past its floor, once past the deadline."""
        while deadline:
            now = _redis_ms(*await self._redis.time())
            if now > deadline:
                break
            await asyncio.sleep((deadline - now) / 1000 + 0.01)
        found = {}
        for room, floor in floors.items():
            entries = _entries(await self._redis.xrange(_stream_key(room), min=f"{floor + 1}-0"))
            for entry_id, fields in entries:
                found[fields[b"id"].decode()] = int(entry_id.split(b"-")[0])
        return found

    def _deadline_ms(self) -> int:
        """When a publish sent now must have run, on Redis's clock; 0 (none) before the first TIME."""
        if self._clock_offset_ms is None:
            return 0
        return int(time.monotonic() * 1000 + self._clock_offset_ms + PUBLISH_DEADLINE_S * 1000)

    def _observe_clock(self, seconds: int, micros: int) -> None:
        # Redis read its clock before its reply reached us, so "Redis's time minus ours now" can only
        # be too small: deadlines err early (a quick retry), never late. Ours is monotonic: a step of
        # this machine's wall clock cannot stretch them.
        self._clock_offset_ms = _redis_ms(seconds, micros) - time.monotonic() * 1000

    @staticmethod
    def _fail(batch: list[tuple[Any, ...]], exc: BaseException) -> None:
        for item in batch:
            if item[0] == "m":
                _answer(item, None, exc)

    # ---- subscribing -------------------------------------------------------
    async def _subscriber(self, subscribed: asyncio.Event) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(MSG_CHANNEL, EVT_CHANNEL)
                if not first:
                    self.reconnects += 1
                    await self._fill_all()
                first = False
                self._set_health(True, "connected")
                subscribed.set()
                backoff = 0.1
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                log.warning(
                    "Redis subscription lost (%s); retrying in %.1fs", exc.__class__.__name__, backoff
                )
                self._set_health(False, f"Redis connection lost ({exc.__class__.__name__})")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1)

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent = 0.0
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=PING_EVERY_S / 2)
            now = loop.time()
            if msg is not None:
                last_heard = now
                kind = msg.get("type")
                if kind == "message":
                    await self._dispatch(msg["channel"], msg["data"])
                continue
            # Quiet: prove the connection is alive, else treat Redis as hung.
            if now - last_heard > PONG_DEADLINE_S + PING_EVERY_S:
                raise ConnectionError("no answer from Redis on the subscription")
            if now - ping_sent >= PING_EVERY_S:
                ping_sent = now
                await asyncio.wait_for(pubsub.ping(), PONG_DEADLINE_S)

    async def _dispatch(self, channel: bytes, data: bytes) -> None:
        listener = self._listener
        if listener is None:
            return
        if channel == MSG_CHANNEL.encode():
            room_b, seq_b, id_b, frame = data.split(b" ", 3)
            room = room_b.decode()
            seq = int(seq_b)
            last = self._last.get(room)
            if last is None:  # a room this worker does not carry (yet)
                return
            if seq <= last:
                return  # already delivered (gap fill raced the live message)
            if seq > last + 1:
                await self._fill(room, seq - 1)
            self._deliver(room, seq, id_b.decode(), frame)
        elif channel == EVT_CHANNEL.encode():
            try:
                envelope = orjson.loads(data)
            except orjson.JSONDecodeError:
                log.warning("ignored a malformed event from Redis")
                return
            try:
                listener.on_event(envelope)
            except Exception:  # one bad event must not end the subscription (and lose what follows)
                log.exception("handling a %r event failed", envelope.get("kind"))

    def _deliver(self, room: str, seq: int, message_id: str, frame: bytes) -> None:
        self._last[room] = seq
        assert self._listener is not None
        try:
            self._listener.on_message(room, seq, message_id, frame)
        except Exception:
            log.exception("delivering message %s of room %s failed", seq, room)

    async def _fill(self, room: str, upto: int | None) -> None:
        """Deliver what the stream holds after our last seq (up to `upto`)."""
        last = self._last.get(room, 0)
        end = f"{upto}-9" if upto is not None else "+"
        entries = _entries(await self._redis.xrange(_stream_key(room), min=f"{last + 1}-0", max=end))
        for entry_id, fields in entries:
            seq = int(entry_id.split(b"-")[0])
            if seq <= self._last.get(room, 0):
                continue
            if seq != self._last.get(room, 0) + 1:
                log.warning(
                    "room %s: messages %d..%d are gone from Redis", room, self._last[room] + 1, seq - 1
                )
            self._deliver(room, seq, fields[b"id"].decode(), fields[b"f"])
        if upto is not None and self._last.get(room, 0) < upto:
            log.warning("room %s: could not recover messages up to %d", room, upto)

    async def _fill_all(self) -> None:
        for room in list(self._last):
            await self._fill(room, None)

    def _set_health(self, healthy: bool, reason: str) -> None:
        if healthy == self.healthy:
            return
        self.healthy = healthy
        if self._listener is not None:
            self._listener.on_broker_state(healthy, reason)

    async def purge_history(self, room: str, stamp: str) -> None:
        # Entries are in seq order, which is time order: trim up to the first one young enough.
        key = _stream_key(room)
        start = "-"
        while True:
            entries = _entries(await self._redis.xrange(key, min=start, count=500))
            if not entries:  # every entry is older: keep the (empty) stream, it remembers the last id
                await self._redis.xtrim(key, maxlen=0, approximate=False)
                return
            for entry_id, fields in entries:
                if str(orjson.loads(fields[b"f"]).get("ts", "")) >= stamp:
                    await self._redis.xtrim(key, minid=entry_id, approximate=False)
                    return
            start = "(" + entries[-1][0].decode()

    async def recent(self, room: str, limit: int) -> list[tuple[int, str, bytes]]:
        if limit <= 0:
            return []
        entries = _entries(await self._redis.xrevrange(_stream_key(room), count=limit))
        out = [(int(eid.split(b"-")[0]), f[b"id"].decode(), f[b"f"]) for eid, f in entries]
        out.reverse()
        return out
