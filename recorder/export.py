"""Evidence package: a zip anyone can check with sha256sum and openssl alone. Its
README.txt says how, in Chinese and then in English."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import manifest as mf

CHAIN_CHECK = (
    "python3 -c \"import json,hashlib,functools as f;m=json.load(open('manifest.json'));"
    "f.reduce(lambda p,s:print(s['file'],'OK' if hashlib.sha256(p+bytes.fromhex(s['sha256']))"
    ".hexdigest()==s['chain'] else 'CHAIN BROKEN') or bytes.fromhex(s['chain']),"
    "m['segments'],bytes(32))\""
)

README_ZH = """证据包：录像 {rid}
视频流 {stream}（工作站 {station}），共 {count} 个分段，{start} 至 {end}（UTC）。
由 vdispatch 节点 {node} 生成。以下校验均无需 vdispatch。

1. 分段文件即清单所列文件（coreutils 的 sha256sum）：

       sha256sum -c SHA256SUMS

   SHA256SUMS 重复 manifest.json 中的 "sha256" 值。

2. 清单由录制节点的 Ed25519 密钥签名（OpenSSL 3）：

       openssl pkeyutl -verify -pubin -inkey node.pub -rawin \\
           -in manifest.json -sigfile manifest.sig

   输出 "Signature Verified Successfully" 表示 manifest.json 与节点写入时完全一致。
   将 node.pub 与节点公布的公钥比对，即可确认签名者。

3. 各分段构成连续的哈希链：chain_n = sha256(chain_(n-1) || sha256_n)，
   chain_0 为 32 个零字节（可发现连同清单条目一起被删除、插入或调换顺序的分段）：

       {chain_check}

manifest.json 的 "continuity" 列出录像未覆盖的每个时段（推流中断、丢包、磁盘故障等），
含开始、结束时间和原因（英文）。audit.jsonl 列出何人何时查看或导出本录像。
每个分段均可单独播放（WebM：VP8/Opus；MP4：H.264/Opus）。
"""

README = """Evidence package: recording {rid}
Stream {stream} (station {station}), {count} segments, {start} to {end} (UTC).
Produced by vdispatch node {node}. Nothing below needs vdispatch.

1. The segment files are the ones the manifest lists (sha256sum, coreutils):

       sha256sum -c SHA256SUMS

   SHA256SUMS repeats the "sha256" values of manifest.json.

2. The manifest was signed by the recording node's Ed25519 key (OpenSSL 3):

       openssl pkeyutl -verify -pubin -inkey node.pub -rawin \\
           -in manifest.json -sigfile manifest.sig

   "Signature Verified Successfully" means manifest.json is exactly what the node
   wrote. Compare node.pub with the node's published key to know who signed.

3. The segments form an unbroken hash chain, chain_n = sha256(chain_(n-1) || sha256_n),
   chain_0 = 32 zero bytes (this catches a segment removed, inserted or reordered
   together with its manifest entry):

       {chain_check}

manifest.json also lists, under "continuity", every span the recording does not
cover (publisher disconnects, losses, disk problems) with start, end and reason.
audit.jsonl lists who viewed or exported this recording, when.
Each segment plays on its own (WebM: VP8/Opus; MP4: H.264/Opus).
"""


def export_recording(
    directory: Path,
    out: Path,
    audit: Iterable[dict[str, Any]] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the package to `out` (via a temporary name). Blocking."""
    manifest = mf.load(directory)
    segs = manifest.segments
    tmp = out.with_name(out.name + ".part")
    sums = "".join(f"{s.sha256}  {s.file}\n" for s in segs)
    readme = (README_ZH + "\n" + "-" * 72 + "\n\n" + README).format(
        rid=manifest.recording_id,
        stream=manifest.stream,
        station=manifest.station,
        count=len(segs),
        start=segs[0].start if segs else manifest.started_at,
        end=segs[-1].end if segs else (manifest.ended_at or "now"),
        node=manifest.node_id,
        chain_check=CHAIN_CHECK,
    )
    total = sum((directory / s.file).stat().st_size for s in segs) or 1
    done = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        for name in (mf.MANIFEST, mf.SIGNATURE, mf.PUBLIC_KEY):
            z.write(directory / name, name)
        z.writestr("SHA256SUMS", sums)
        z.writestr("README.txt", readme)
        z.writestr("audit.jsonl", "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in audit))
        for s in segs:
            z.write(directory / s.file, s.file)  # media is compressed already
            done += (directory / s.file).stat().st_size
            if progress:
                progress(done, total)
    tmp.replace(out)
    return out
