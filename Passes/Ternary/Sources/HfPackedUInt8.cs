using Ternion.IR;
using Ternion.IR.Ternary;
using Ternion.Passes.Constants;

namespace Ternion.Passes.Ternary.Sources;

/// <summary>
/// HF transformers' BitNet unpacking as its exporters write it, recognised node by node and
/// transcoded straight from the packed bytes: a 2-bit code is already a TTF1 digit (trit + 1), so
/// the weight never exists as floats. The subgraph must be exactly
/// <code>
///   part_j = BitShift(BitwiseAnd(P, 3 &lt;&lt; 2i_j), 2i_j, RIGHT)      P: uint8 [N/4, K], j = 0..3
///   Y = Sub(Cast(Concat(part_0..3, axis 0), float), 1) [* scale]    scale: a constant [] / [1] / [N, 1]
///   root = Transpose(Y, perm [1, 0])
/// </code>
/// Anything else, a code of 3 (which unpacks to 2), or a scale that is not finite goes to the
/// general evaluator, which gives the same bytes (a test compiles both ways and compares).
/// </summary>
internal static class HfPackedUInt8
{
    public sealed record Match(Value Packed, int[] Shifts, float[]? Scales);

    public static Match? TryMatch(ConstantCone cone, Value root)
    {
        if (root.Producer is not { OpType: "Transpose" } tr || !Standard(tr) || tr.GetInts("perm") is not [1, 0]) return null;
        var y = tr.Input(0)!;
        float[]? scales = null;
        if (y.Producer is { OpType: "Mul" } mul && Standard(mul))
        {
            int si = IsSub(mul.Input(0)) ? 1 : IsSub(mul.Input(1)) ? 0 : -1;
            if (si < 0 || mul.Input(si) is not { Initializer: { DataType: DataType.Float } st } || st.Data is ProtoTensorData { HasSegment: true }) return null;
            scales = st.ToArray<float>();
            y = mul.Input(1 - si)!;
        }
        if (!IsSub(y) || y.Producer!.Input(0) is not { Producer: { OpType: "Cast" } cast } || !Standard(cast) || cast.GetInt("to", 0) != (long)DataType.Float) return null;
        if (cast.Input(0)?.Producer is not { OpType: "Concat" } concat || !Standard(concat) || concat.GetInt("axis", -1) != 0 || concat.Inputs.Count != 4) return null;
        Value? packed = null;
        var shifts = new int[4];
        for (int j = 0; j < 4; j++)
        {
            if (concat.Input(j)?.Producer is not { OpType: "BitShift" } shift || !Standard(shift) || shift.GetString("direction") != "RIGHT") return null;
            if (shift.Input(0)?.Producer is not { OpType: "BitwiseAnd" } and || !Standard(and)) return null;
            if (ByteConstant(shift.Input(1)) is not { } by || ByteConstant(and.Input(1)) is not { } m || by % 2 != 0 || by > 6 || m != 3 << by) return null;
            if (and.Input(0) is not { Initializer: { DataType: DataType.UInt8, Dims.Length: 2 } } p || (packed is not null && p != packed)) return null;
            packed = p;
            shifts[j] = by;
        }
        var pt = packed!.Initializer!;
        if (pt.Data is ProtoTensorData { HasSegment: true }) return null;
        long n = pt.Dims[0] * 4;
        // One scale, or one per row as [N, 1] (a 1-D [N] would scale the columns instead).
        if (y != tr.Input(0) && tr.Input(0)!.Producer is { } mulNode && mulNode.Inputs.First(i => !IsSub(i)) is { Initializer: { } scaleT }
            && !(scaleT.ElementCount == 1 || scaleT.Dims is [var rowsDim, 1] && rowsDim == n)) return null;
        // Every node read must be the cone's own: nothing outside it reads the parts.
        foreach (var node in cone.Nodes)
            if (node != tr && node.Outputs.Any(o => o is not null && (o.IsGraphOutput || o.Uses.Any(u => !cone.Contains(u.Node))))) return null;
        return new Match(packed, shifts, scales);
    }

    private static bool Standard(Node n) => n.DomainName.Length == 0;

    private static bool IsSub(Value? v) =>
        v?.Producer is { OpType: "Sub" } sub && Standard(sub) && sub.Input(1) is { Initializer: { DataType: DataType.Float, ElementCount: 1 } one } && one.ToArray<float>()[0] == 1f;

    private static int? ByteConstant(Value? v) =>
        v is { Initializer: { DataType: DataType.UInt8, ElementCount: 1 } t } ? t.ToArray<byte>()[0] : null;

    /// <summary>
    /// The trits of W [N, K] (row n = output channel) with the scan's scale decision, or null when the
    /// bytes hold a code of 3 or the scales are not all finite (the general path says why).
    /// </summary>
    public static ScanResult? Transcode(Match m, TernaryLayout rows, Span<byte> packedOut)
    {
        var p = m.Packed.Initializer!;
        int pr = (int)p.Dims[0], k = (int)p.Dims[1], n = pr * 4;
        if (rows.M != n || rows.K != k || packedOut.Length != rows.PackedBytes) throw new ArgumentException("the layout does not fit the packed bytes");
        if (m.Scales is { } s && s.Any(v => !float.IsFinite(v))) return null;
        using var bytes = p.Data.Open();
        var src = bytes.Span;
        var rowMag = new uint[n];
        var digits = new byte[k];
        int rowBytes = (int)rows.RowBytes;
        for (int row = 0; row < n; row++)
        {
            int j = row / pr, pRow = row % pr, shift = m.Shifts[j];
            float scale = m.Scales is null ? 1f : m.Scales[m.Scales.Length == 1 ? 0 : row];
            var inRow = src.Slice(pRow * k, k);
            // A code is trit + 1, a TTF1 digit already; (code - 1) * scale flips the trit with a
            // negative scale (digit 2 - code), and a zero scale zeroes it (digit 1).
            int seen = 0, threes = 0;
            if (scale == 0) digits.AsSpan().Fill(1);
            else if (float.IsNegative(scale))
                for (int c = 0; c < k; c++) { int code = (inRow[c] >> shift) & 3; threes |= code + 1 & 4; seen |= code ^ 1; digits[c] = (byte)(2 - code); }
            else
                for (int c = 0; c < k; c++) { int code = (inRow[c] >> shift) & 3; threes |= code + 1 & 4; seen |= code ^ 1; digits[c] = (byte)code; }
            if (threes != 0) return null; // a code of 3 unpacks to 2: not ternary
            DigitRows.Pack(digits, packedOut.Slice(row * rowBytes, rowBytes));
            rowMag[row] = seen != 0 && scale != 0 ? BitConverter.SingleToUInt32Bits(Math.Abs(scale)) : 0u;
        }
        uint common = rowMag.Where(v => v != 0).GroupBy(v => v).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();
        if (common == 0) return null;
        bool perTensor = rowMag.All(v => v == 0 || v == common);
        var bits = perTensor ? [(ulong)common] : rowMag.Select(v => (ulong)(v == 0 ? 0x3F80_0000u : v)).ToArray();
        return new ScanResult { IsTernary = true, PerTensor = perTensor, ScaleBits = bits };
    }
}
