using System.Text;

namespace Ternion.Robustness.Tests.Harness;

/// <summary>
/// Mutates an ONNX file the ways a damaged or hostile file differs from a good one: at the byte
/// level (bit flips, overwritten bytes, truncation, inserted or deleted bytes) and at the protobuf
/// wire level, keeping the bytes well-formed so the damage reaches the loader's checks instead of
/// stopping at the parser (a field duplicated, deleted, moved or swapped with its neighbour; a
/// varint set to a boundary value; a string or bytes payload replaced). Deterministic for a given
/// <see cref="Random"/>; <see cref="Describe"/> says what was done, for reproducing a failure.
/// </summary>
public sealed class Mutator
{
    private readonly Random _rng;
    private readonly List<string> _log = new();

    public Mutator(Random rng) { _rng = rng; }

    public string Describe => string.Join("; ", _log);

    private static readonly ulong[] InterestingVarints =
    [
        0, 1, 2, 3, 5, 7, 8, 9, 11, 13, 16, 17, 25, 26, 27, 100, 127, 128, 242, 243, 255, 256, 320, 640, 1023, 4096,
        int.MaxValue, 1UL << 31, uint.MaxValue, 1UL << 32, 1UL << 40, 1UL << 62, long.MaxValue, 1UL << 63,
        ulong.MaxValue /* -1 */, ulong.MaxValue - 1 /* -2 */, unchecked((ulong)(long)int.MinValue),
    ];

    private static readonly string[] InterestingStrings =
    [
        "", ".", "..", "../x", "/etc/passwd", "a/../../b", "x\0y", "sub/", "model.onnx", "model.onnx.data",
        "com.ternion", "TernaryDecode", "ai.onnx.preview", "FlexAttention", "ai.onnx", "com.microsoft", "If", "Loop", "Scan",
        "location", "offset", "length", "-1", "18446744073709551615", "9223372036854775807", "1e9", "x",
    ];

    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x08, 0x0A, 0x10, 0x12, 0x1A, 0x22, 0x3A, 0x7F, 0x80, 0xF2, 0xF3, 0xFF];

    /// <summary>Applies one to three mutations; returns the new bytes.</summary>
    public byte[] Mutate(byte[] original, IReadOnlyList<WireField>? tree)
    {
        var bytes = original;
        int count = 1 + _rng.Next(3);
        for (int i = 0; i < count; i++)
        {
            // The tree of the original is reused for the first mutation; later ones re-parse.
            var fields = i == 0 ? tree : Wire.Parse(bytes, 0, bytes.Length);
            bytes = fields is { Count: > 0 } && _rng.Next(100) < 65 ? MutateWire(bytes, fields) : MutateBytes(bytes);
        }
        return bytes;
    }

    private byte[] MutateBytes(byte[] b)
    {
        if (b.Length == 0) return [(byte)_rng.Next(256)];
        switch (_rng.Next(5))
        {
            case 0:
            {
                var c = (byte[])b.Clone();
                int flips = 1 + _rng.Next(8);
                for (int i = 0; i < flips; i++) { int at = _rng.Next(c.Length); c[at] ^= (byte)(1 << _rng.Next(8)); }
                _log.Add($"flip {flips} bits");
                return c;
            }
            case 1:
            {
                var c = (byte[])b.Clone();
                int n = 1 + _rng.Next(4);
                for (int i = 0; i < n; i++) c[_rng.Next(c.Length)] = InterestingBytes[_rng.Next(InterestingBytes.Length)];
                _log.Add($"overwrite {n} bytes");
                return c;
            }
            case 2:
            {
                int at = _rng.Next(b.Length);
                _log.Add($"truncate at {at} of {b.Length}");
                return b[..at];
            }
            case 3:
            {
                int at = _rng.Next(b.Length + 1), n = 1 + _rng.Next(16);
                var extra = new byte[n];
                _rng.NextBytes(extra);
                _log.Add($"insert {n} bytes at {at}");
                return [.. b[..at], .. extra, .. b[at..]];
            }
            default:
            {
                int at = _rng.Next(b.Length), n = Math.Min(1 + _rng.Next(16), b.Length - at);
                _log.Add($"delete {n} bytes at {at}");
                return [.. b[..at], .. b[(at + n)..]];
            }
        }
    }

    private byte[] MutateWire(byte[] b, IReadOnlyList<WireField> top)
    {
        var paths = Wire.Paths(top).ToList();
        var path = paths[_rng.Next(paths.Count)];
        var f = path[^1];
        string where = string.Join(".", path.Select(p => p.Number));
        var siblings = path.Length == 1 ? top : path[^2].Children!;
        switch (_rng.Next(6))
        {
            case 0:
            {
                int times = _rng.Next(4) == 0 ? 2 + _rng.Next(50) : 2;
                _log.Add($"field {where}: write it {times} times");
                return Wire.Rewrite(b, top, path, (s, x) => { for (int i = 0; i < times; i++) s.Write(b, x.Start, x.End - x.Start); });
            }
            case 1:
                _log.Add($"field {where}: delete");
                return Wire.Rewrite(b, top, path, (_, _) => { });
            case 2 when f.WireType == Wire.Varint:
            {
                ulong v = _rng.Next(8) == 0 ? (ulong)_rng.NextInt64() : InterestingVarints[_rng.Next(InterestingVarints.Length)];
                _log.Add($"field {where}: varint = {v}");
                return Wire.Rewrite(b, top, path, (s, x) => Wire.WriteVarintField(s, x, v));
            }
            case 3 when f.WireType == Wire.Len:
            {
                byte[] payload;
                switch (_rng.Next(4))
                {
                    case 0:
                        payload = Encoding.UTF8.GetBytes(InterestingStrings[_rng.Next(InterestingStrings.Length)]);
                        break;
                    case 1:
                        payload = b[f.PayloadStart..f.End];
                        if (payload.Length > 0) payload[_rng.Next(payload.Length)] ^= (byte)(1 << _rng.Next(8));
                        break;
                    case 2:
                        payload = b[f.PayloadStart..(f.PayloadStart + _rng.Next(f.PayloadLength + 1))];
                        break;
                    default:
                    {
                        // The payload of another field of the same message: names swapped, a node's
                        // input pointing at an output, a tensor's dims from another tensor ...
                        var other = siblings[_rng.Next(siblings.Count)];
                        payload = other.WireType == Wire.Len ? b[other.PayloadStart..other.End] : [];
                        break;
                    }
                }
                _log.Add($"field {where}: payload of {payload.Length} bytes");
                return Wire.Rewrite(b, top, path, (s, x) => Wire.WriteLenField(s, x, payload));
            }
            case 4 when siblings.Count > 1:
            {
                // Move the field to the end of its message (order of nodes, initializers, inputs ...).
                var parent = path[..^1];
                _log.Add($"field {where}: move to the end of its message");
                if (parent.Length == 0)
                    return [.. b[..f.Start], .. b[f.End..], .. b[f.Start..f.End]];
                var movedParent = parent[^1];
                return Wire.Rewrite(b, top, parent, (s, p) =>
                {
                    using var inner = new MemoryStream();
                    foreach (var c in p.Children!) if (!ReferenceEquals(c, f)) inner.Write(b, c.Start, c.End - c.Start);
                    inner.Write(b, f.Start, f.End - f.Start);
                    Wire.WriteLenField(s, p, inner.ToArray());
                });
            }
            default:
            {
                // Copy the field into another message of the tree (a node into a subgraph, an
                // initializer into a function, an attribute into a tensor ...).
                var targets = paths.Where(p => p[^1].Children is not null).ToList();
                if (targets.Count == 0) return MutateBytes(b);
                var target = targets[_rng.Next(targets.Count)];
                var copy = b[f.Start..f.End];
                _log.Add($"field {where}: copy into {string.Join(".", target.Select(p => p.Number))}");
                return Wire.Rewrite(b, top, target, (s, p) => Wire.WriteLenField(s, p, [.. b[p.PayloadStart..p.End], .. copy]));
            }
        }
    }
}
