# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter's BPF program in C, and its compilation with bcc.

The C source is a constant: the allow-list lives in maps that the loader
fills, so nothing is ever spliced into the program text and one compiled
build serves every allow-list.  Compiling happens once when provisioning;
the result is relocatable bytecode (see ``_bpf_insns``) that the stdlib
loader in ``_netfilter_attach`` loads at boot without bcc, LLVM or headers.

Six programs share the maps:

- ``connect4``/``connect6`` refuse connect() with EPERM at once, so a game
  gives up instead of waiting for a TCP timeout;
- ``sendmsg4``/``sendmsg6`` do the same for unconnected UDP sends;
- ``egress`` (and ``ingress`` when asked) judge every packet of the
  cgroup's sockets: the backstop for ping and raw sockets and for sockets
  connected before the filter was attached.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass

from . import _bpf_sys as bpf
from ._bpf_insns import extract_relocations
from ._errors import HostError, MissingDependency
from ._netfilter_maps import MAP_SHAPES
from ._respawn import import_or_respawn

__all__ = [
    "HOOKS",
    "PROGRAM_SOURCE",
    "CompiledFilter",
    "CompiledProgram",
    "Hook",
    "compile_filter",
    "source_digest",
]

PROGRAM_SOURCE = r"""
/* gaming-box: network allow-list for one cgroup.  Policy lives in maps. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/in.h>
#include <uapi/linux/in6.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/ipv6.h>

#define MAX_RULES 16
#define MAX_PREFIXES 1024
#define MAX_EXTENSION_HEADERS 4

#define PROTO_TCP 1
#define PROTO_UDP 2
#define PROTO_OTHER 4

#define COUNT_CONNECT_ALLOWED 0
#define COUNT_CONNECT_BLOCKED 1
#define COUNT_SENDMSG_ALLOWED 2
#define COUNT_SENDMSG_BLOCKED 3
#define COUNT_EGRESS_ALLOWED 4
#define COUNT_EGRESS_BLOCKED 5
#define COUNT_INGRESS_ALLOWED 6
#define COUNT_INGRESS_BLOCKED 7
#define COUNTERS 8

struct key_v4 {
    u32 prefixlen;
    u32 addr;        /* network byte order */
};

struct key_v6 {
    u32 prefixlen;
    u32 addr[4];     /* network byte order */
};

struct port_rule {
    u16 first_port;  /* host byte order, inclusive */
    u16 last_port;
    u16 protocols;   /* PROTO_* bits */
    u16 unused;
};

struct rule_set {
    u32 count;
    u32 unused;
    struct port_rule rules[MAX_RULES];
};

struct ipv6_fragment {
    u8 nexthdr;
    u8 reserved;
    u16 frag_off;
    u32 identification;
};

BPF_LPM_TRIE(allow_v4, struct key_v4, struct rule_set, MAX_PREFIXES);
BPF_LPM_TRIE(allow_v6, struct key_v6, struct rule_set, MAX_PREFIXES);
BPF_PERCPU_ARRAY(counters, u64, COUNTERS);

static __always_inline void count(u32 index)
{
    u64 *value = counters.lookup(&index);
    if (value)
        *value += 1;
}

static __always_inline u32 protocol_bit(u32 protocol)
{
    if (protocol == IPPROTO_TCP)
        return PROTO_TCP;
    if (protocol == IPPROTO_UDP)
        return PROTO_UDP;
    return PROTO_OTHER;
}

/* A port that cannot be seen (a later IP fragment) passes when any rule
 * lets the protocol reach the peer: the first fragment was judged. */
static __always_inline int rules_allow(struct rule_set *set, u32 bit,
                                       u32 port, int port_known)
{
#pragma unroll
    for (int i = 0; i < MAX_RULES; i++) {
        if (i >= set->count)
            break;
        if (!(set->rules[i].protocols & bit))
            continue;
        if (bit == PROTO_OTHER || !port_known)
            return 1;
        if (port >= set->rules[i].first_port &&
            port <= set->rules[i].last_port)
            return 1;
    }
    return 0;
}

static __always_inline int v4_allowed(u32 addr, u32 bit, u32 port,
                                      int port_known)
{
    struct key_v4 key = {.prefixlen = 32, .addr = addr};
    struct rule_set *set = allow_v4.lookup(&key);
    if (!set)
        return 0;
    return rules_allow(set, bit, port, port_known);
}

static __always_inline int v6_allowed(u32 a0, u32 a1, u32 a2, u32 a3,
                                      u32 bit, u32 port, int port_known)
{
    /* ::ffff:a.b.c.d is IPv4 in disguise: only the IPv4 list decides. */
    if (a0 == 0 && a1 == 0 && a2 == bpf_htonl(0x0000FFFF))
        return v4_allowed(a3, bit, port, port_known);

    struct key_v6 key = {.prefixlen = 128};
    key.addr[0] = a0;
    key.addr[1] = a1;
    key.addr[2] = a2;
    key.addr[3] = a3;
    struct rule_set *set = allow_v6.lookup(&key);
    if (!set)
        return 0;
    return rules_allow(set, bit, port, port_known);
}

static __always_inline int sock_addr_allowed4(struct bpf_sock_addr *ctx)
{
    u32 addr = ctx->user_ip4;
    /* The kernel delivers to 0.0.0.0 over loopback. */
    if (addr == 0)
        addr = bpf_htonl(0x7F000001);
    return v4_allowed(addr, protocol_bit(ctx->protocol),
                      bpf_ntohs((u16)ctx->user_port), 1);
}

static __always_inline int sock_addr_allowed6(struct bpf_sock_addr *ctx)
{
    u32 a0 = ctx->user_ip6[0];
    u32 a1 = ctx->user_ip6[1];
    u32 a2 = ctx->user_ip6[2];
    u32 a3 = ctx->user_ip6[3];
    /* Connecting to :: reaches ::1. */
    if ((a0 | a1 | a2 | a3) == 0)
        a3 = bpf_htonl(1);
    return v6_allowed(a0, a1, a2, a3, protocol_bit(ctx->protocol),
                      bpf_ntohs((u16)ctx->user_port), 1);
}

static __always_inline int packet_allowed4(struct __sk_buff *skb, int egress)
{
    struct iphdr ip;
    if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
        return 0;

    u32 bit = protocol_bit(ip.protocol);
    u32 port = 0;
    int port_known = 0;
    /* Only the first fragment carries the ports. */
    if (bit != PROTO_OTHER && !(ip.frag_off & bpf_htons(0x1FFF))) {
        u16 ports[2];
        if (bpf_skb_load_bytes(skb, ip.ihl * 4, ports, sizeof(ports)) < 0)
            return 0;
        port = bpf_ntohs(egress ? ports[1] : ports[0]);
        port_known = 1;
    }
    return v4_allowed(egress ? ip.daddr : ip.saddr, bit, port, port_known);
}

static __always_inline int packet_allowed6(struct __sk_buff *skb, int egress)
{
    struct ipv6hdr ip6;
    if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0)
        return 0;

    u8 next = ip6.nexthdr;
    u32 offset = sizeof(ip6);
    int port_known = 1;
#pragma unroll
    for (int i = 0; i < MAX_EXTENSION_HEADERS; i++) {
        if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
            next == IPPROTO_DSTOPTS) {
            u8 head[2];
            if (bpf_skb_load_bytes(skb, offset, head, sizeof(head)) < 0)
                return 0;
            next = head[0];
            offset += (head[1] + 1) * 8;
        } else if (next == IPPROTO_FRAGMENT) {
            struct ipv6_fragment frag;
            if (bpf_skb_load_bytes(skb, offset, &frag, sizeof(frag)) < 0)
                return 0;
            next = frag.nexthdr;
            if (frag.frag_off & bpf_htons(0xFFF8))
                port_known = 0;
            offset += sizeof(frag);
        } else {
            break;
        }
    }

    /* Past the last header we walk, the protocol counts as "other". */
    u32 bit = protocol_bit(next);
    u32 port = 0;
    if (bit == PROTO_OTHER) {
        port_known = 0;
    } else if (port_known) {
        u16 ports[2];
        if (bpf_skb_load_bytes(skb, offset, ports, sizeof(ports)) < 0)
            return 0;
        port = bpf_ntohs(egress ? ports[1] : ports[0]);
    }

    u32 *peer = egress ? ip6.daddr.in6_u.u6_addr32
                       : ip6.saddr.in6_u.u6_addr32;
    return v6_allowed(peer[0], peer[1], peer[2], peer[3], bit, port,
                      port_known);
}

static __always_inline int packet_allowed(struct __sk_buff *skb, int egress)
{
    u8 version = 0;
    if (bpf_skb_load_bytes(skb, 0, &version, 1) < 0)
        return 0;
    version >>= 4;
    if (version == 4)
        return packet_allowed4(skb, egress);
    if (version == 6)
        return packet_allowed6(skb, egress);
    return 0;
}

/* Counters come in pairs: "allowed" at an even index, "blocked" after. */
static __always_inline int verdict(int allowed, u32 allowed_counter)
{
    count(allowed ? allowed_counter : allowed_counter + 1);
    return allowed ? 1 : 0;
}

int gbox_connect4(struct bpf_sock_addr *ctx)
{
    return verdict(sock_addr_allowed4(ctx), COUNT_CONNECT_ALLOWED);
}

int gbox_connect6(struct bpf_sock_addr *ctx)
{
    return verdict(sock_addr_allowed6(ctx), COUNT_CONNECT_ALLOWED);
}

int gbox_sendmsg4(struct bpf_sock_addr *ctx)
{
    return verdict(sock_addr_allowed4(ctx), COUNT_SENDMSG_ALLOWED);
}

int gbox_sendmsg6(struct bpf_sock_addr *ctx)
{
    return verdict(sock_addr_allowed6(ctx), COUNT_SENDMSG_ALLOWED);
}

int gbox_egress(struct __sk_buff *skb)
{
    return verdict(packet_allowed(skb, 1), COUNT_EGRESS_ALLOWED);
}

int gbox_ingress(struct __sk_buff *skb)
{
    return verdict(packet_allowed(skb, 0), COUNT_INGRESS_ALLOWED);
}
"""


@dataclass(frozen=True)
class Hook:
    """Where one function of the program is attached in a cgroup."""

    name: str
    prog_type: int
    attach_type: int
    ingress: bool = False

    @property
    def function(self) -> str:
        return f"gbox_{self.name}"


_SOCK_ADDR = bpf.PROG_TYPE_CGROUP_SOCK_ADDR
_SKB = bpf.PROG_TYPE_CGROUP_SKB

HOOKS = (
    Hook("connect4", _SOCK_ADDR, bpf.CGROUP_INET4_CONNECT),
    Hook("connect6", _SOCK_ADDR, bpf.CGROUP_INET6_CONNECT),
    Hook("sendmsg4", _SOCK_ADDR, bpf.CGROUP_UDP4_SENDMSG),
    Hook("sendmsg6", _SOCK_ADDR, bpf.CGROUP_UDP6_SENDMSG),
    Hook("egress", _SKB, bpf.CGROUP_INET_EGRESS),
    Hook("ingress", _SKB, bpf.CGROUP_INET_INGRESS, ingress=True),
)


@dataclass(frozen=True)
class CompiledProgram:
    hook: Hook
    insns: bytes
    relocations: list


@dataclass(frozen=True)
class CompiledFilter:
    """Bytecode of every hook, ready to be stored in a spec file."""

    programs: tuple[CompiledProgram, ...]
    license: str
    source_sha256: str
    kernel: str


def source_digest() -> str:
    return hashlib.sha256(PROGRAM_SOURCE.encode("utf-8")).hexdigest()


def compile_filter() -> CompiledFilter:
    """Compile PROGRAM_SOURCE with bcc and return relocatable bytecode.

    Raises MissingDependency without bcc or matching kernel headers, and
    HostError when the compiled maps do not have the shapes the encoder
    writes (a bug: the C text and ``_netfilter_maps`` disagree).
    """
    bcc = import_or_respawn("bcc", package="python3-bpfcc")
    kernel = os.uname().release
    _require_kernel_headers(kernel)

    with _stderr_captured() as captured:
        try:
            module = bcc.BPF(text=PROGRAM_SOURCE)
        except Exception as exc:  # bcc raises plain Exception
            raise HostError(
                "the cgroup filter program",
                f"did not compile with bcc ({exc}; compiler said: "
                f"{_tail(captured)})",
                f"Check that linux-headers-{kernel} matches the running "
                f"kernel and that python3-bpfcc is intact") from exc

    try:
        map_names = _check_maps(module)
        programs = tuple(
            _relocatable(module, hook, map_names) for hook in HOOKS)
    finally:
        module.cleanup()

    return CompiledFilter(programs=programs, license="GPL",
                          source_sha256=source_digest(), kernel=kernel)


def _require_kernel_headers(kernel: str) -> None:
    build = f"/lib/modules/{kernel}/build"
    if os.path.isdir(build) or os.path.exists("/sys/kernel/kheaders.tar.xz"):
        return
    raise MissingDependency(
        f"kernel headers for {kernel}",
        f"are not installed ({build} is missing) and bcc compiles the "
        f"filter against them",
        f"Install the Debian package linux-headers-{kernel} (with "
        f"python3-bpfcc), or boot the kernel whose headers are installed")


def _check_maps(module) -> dict[int, str]:
    names_by_fd = {}
    for shape in MAP_SHAPES:
        fd = module.get_table(shape.name).map_fd
        info = bpf.map_info(fd)
        found = (info.map_type, info.key_size, info.value_size,
                 info.max_entries, info.flags)
        wanted = (shape.map_type, shape.key_size, shape.value_size,
                  shape.max_entries, shape.flags)
        if found != wanted:
            raise HostError(
                f"BPF map {shape.name}",
                f"was compiled as (type, key, value, entries, flags) "
                f"{found}, but the loader writes {wanted}",
                "Report this as a bug in gaming-box")
        names_by_fd[fd] = shape.name
    return names_by_fd


def _relocatable(module, hook: Hook, map_names: dict[int, str]):
    raw = module.dump_func(hook.function)
    insns, relocations = extract_relocations(raw, map_names,
                                             program=hook.function)
    return CompiledProgram(hook=hook, insns=insns, relocations=relocations)


@contextlib.contextmanager
def _stderr_captured():
    # LLVM and libbcc print diagnostics straight to file descriptor 2,
    # where Ansible would lose them; keep them for the error message.
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield sink
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _tail(sink) -> str:
    size = os.fstat(sink.fileno()).st_size
    start = max(size - 8192, 0)
    text = os.pread(sink.fileno(), size - start, start).decode(
        "utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-5:]) or "nothing"
