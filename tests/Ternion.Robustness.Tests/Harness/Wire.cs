namespace Ternion.Robustness.Tests.Harness;

/// <summary>
/// One field of a protobuf message at the wire level, as it sits in a file: its tag, its encoded
/// bytes (tag included), and, for a length-delimited field whose payload parses as a message, the
/// fields inside. Strings and raw_data that happen to parse are treated as messages too; mutating
/// them still gives well-formed bytes, which is all the fuzzer needs.
/// </summary>
public sealed class WireField
{
    public required int Number { get; init; }
    public required int WireType { get; init; }
    /// <summary>Start of the whole field (tag) in the file, and its end.</summary>
    public required int Start { get; init; }
    public required int End { get; init; }
    /// <summary>Where the payload starts (after the tag, and the length for wire type 2).</summary>
    public required int PayloadStart { get; init; }
    public IReadOnlyList<WireField>? Children { get; init; }
    public int PayloadLength => End - PayloadStart;
}

/// <summary>Parses the protobuf wire format into <see cref="WireField"/> trees and writes edited copies.</summary>
public static class Wire
{
    public const int Varint = 0, Fixed64 = 1, Len = 2, Fixed32 = 5;

    /// <summary>Payloads shorter than this are not tried as messages (names, small strings): keeps trees small.</summary>
    private const int MinNestedPayload = 2;

    /// <summary>The fields of the message in bytes[start..end), or null when it is not a well-formed message.</summary>
    public static List<WireField>? Parse(ReadOnlySpan<byte> bytes, int start, int end, int depth = 0)
    {
        var fields = new List<WireField>();
        int pos = start;
        while (pos < end)
        {
            int fieldStart = pos;
            if (!TryReadVarint(bytes, ref pos, end, out ulong tag)) return null;
            int number = (int)(tag >> 3), type = (int)(tag & 7);
            if (number <= 0 || tag >> 3 > 536_870_911) return null;
            int payloadStart;
            List<WireField>? children = null;
            switch (type)
            {
                case Varint:
                    payloadStart = pos;
                    if (!TryReadVarint(bytes, ref pos, end, out _)) return null;
                    break;
                case Fixed64:
                    payloadStart = pos;
                    if (end - pos < 8) return null;
                    pos += 8;
                    break;
                case Fixed32:
                    payloadStart = pos;
                    if (end - pos < 4) return null;
                    pos += 4;
                    break;
                case Len:
                    if (!TryReadVarint(bytes, ref pos, end, out ulong len) || len > (ulong)(end - pos)) return null;
                    payloadStart = pos;
                    pos += (int)len;
                    // Deep nesting is the subject of its own tests; the fuzzer does not need a tree deeper than this.
                    if ((int)len >= MinNestedPayload && depth < 64) children = Parse(bytes, payloadStart, pos, depth + 1);
                    break;
                default:
                    return null; // groups (3, 4) and invalid types: not a message ONNX writes
            }
            fields.Add(new WireField { Number = number, WireType = type, Start = fieldStart, End = pos, PayloadStart = payloadStart, Children = children });
        }
        return fields;
    }

    public static bool TryReadVarint(ReadOnlySpan<byte> bytes, ref int pos, int end, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= end) return false;
            byte b = bytes[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;
    }

    public static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    /// <summary>Every field of the tree with the path of fields leading to it (outermost first).</summary>
    public static IEnumerable<WireField[]> Paths(IReadOnlyList<WireField> fields, WireField[]? prefix = null)
    {
        prefix ??= [];
        foreach (var f in fields)
        {
            var path = (WireField[])[.. prefix, f];
            yield return path;
            if (f.Children is { } c)
                foreach (var inner in Paths(c, path)) yield return inner;
        }
    }

    /// <summary>
    /// Writes the message with the field at the end of <paramref name="path"/> replaced by what
    /// <paramref name="edit"/> writes (which may be nothing, the field twice, or other bytes); the
    /// lengths of every enclosing field are rewritten to match. Untouched fields keep their bytes.
    /// </summary>
    public static byte[] Rewrite(byte[] original, IReadOnlyList<WireField> top, WireField[] path, Action<Stream, WireField> edit)
    {
        using var ms = new MemoryStream(original.Length + 64);
        WriteLevel(ms, original, top, path, 0, edit);
        return ms.ToArray();
    }

    private static void WriteLevel(Stream s, byte[] original, IReadOnlyList<WireField> fields, WireField[] path, int depth, Action<Stream, WireField> edit)
    {
        foreach (var f in fields)
        {
            if (!ReferenceEquals(f, path[depth])) { s.Write(original, f.Start, f.End - f.Start); continue; }
            if (depth == path.Length - 1) { edit(s, f); continue; }
            // An enclosing field: rewrite its payload, then its length.
            using var inner = new MemoryStream();
            WriteLevel(inner, original, f.Children!, path, depth + 1, edit);
            WriteVarint(s, ((ulong)f.Number << 3) | Len);
            WriteVarint(s, (ulong)inner.Length);
            inner.Position = 0;
            inner.CopyTo(s);
        }
    }

    /// <summary>Writes a field with the same tag and a new varint value.</summary>
    public static void WriteVarintField(Stream s, WireField f, ulong value)
    {
        WriteVarint(s, ((ulong)f.Number << 3) | Varint);
        WriteVarint(s, value);
    }

    /// <summary>Writes a length-delimited field with the same tag and a new payload.</summary>
    public static void WriteLenField(Stream s, WireField f, ReadOnlySpan<byte> payload)
    {
        WriteVarint(s, ((ulong)f.Number << 3) | Len);
        WriteVarint(s, (ulong)payload.Length);
        s.Write(payload);
    }

    public static int VarintSize(ulong v)
    {
        int n = 1;
        while (v >= 0x80) { v >>= 7; n++; }
        return n;
    }

    /// <summary>
    /// <paramref name="core"/> wrapped in length-delimited fields, innermost first, written without
    /// recursion (so a test can build nesting far deeper than any recursive serializer survives).
    /// </summary>
    public static byte[] Nest(byte[] core, IReadOnlyList<int> fieldsInnermostFirst)
    {
        int n = fieldsInnermostFirst.Count;
        var sizes = new long[n + 1];
        sizes[0] = core.Length;
        for (int i = 0; i < n; i++)
            sizes[i + 1] = sizes[i] + VarintSize(((ulong)fieldsInnermostFirst[i] << 3) | Len) + VarintSize((ulong)sizes[i]);
        using var ms = new MemoryStream((int)sizes[n]);
        for (int i = n - 1; i >= 0; i--)
        {
            WriteVarint(ms, ((ulong)fieldsInnermostFirst[i] << 3) | Len);
            WriteVarint(ms, (ulong)sizes[i]);
        }
        ms.Write(core);
        return ms.ToArray();
    }
}
