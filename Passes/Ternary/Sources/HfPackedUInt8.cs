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
    /// <summary>The packed bytes (the tensor itself: its value leaves the graph once the weight is packed), the four parts' shifts, the scales.</summary>
    public sealed record Match(Value Packed, Tensor Bytes, int[] Shifts, float[]? Scales);

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
        return new Match(packed, pt, shifts, scales);
    }

    private static bool Standard(Node n) => n.DomainName.Length == 0;

    private static bool IsSub(Value? v) =>
        v?.Producer is { OpType: "Sub" } sub && Standard(sub) && sub.Input(1) is { Initializer: { DataType: DataType.Float, ElementCount: 1 } one } && one.ToArray<float>()[0] == 1f;

    private static int? ByteConstant(Value? v) =>
        v is { Initializer: { DataType: DataType.UInt8, ElementCount: 1 } t } ? t.ToArray<byte>()[0] : null;

    /// <summary>
    /// The scales the weight W [N, K] (row n = output channel) packs with — as the scan decides them —
    /// or null when the bytes hold a code of 3 or a scale is not finite (the general path says why).
    /// Reads every packed byte once, four codes at a time; the TTF1 bytes are written later by
    /// <see cref="Encode"/>.
    /// </summary>
    public static ScanResult? Validate(Match m)
    {
        var p = m.Bytes;
        int pr = (int)p.Dims[0], k = (int)p.Dims[1], n = pr * 4;
        if (m.Scales is { } s && s.Any(v => !float.IsFinite(v))) return null;
        using var bytes = p.Data.Open();
        var src = bytes.Span;
        var rowMag = new uint[n];
        var w = System.Numerics.Vector<byte>.Count;
        var odd = new System.Numerics.Vector<byte>(0x55);
        for (int pRow = 0; pRow < pr; pRow++)
        {
            var inRow = src.Slice(pRow * k, k);
            // Per byte, four 2-bit codes: a code of 3 has both bits set; a code other than 1 differs
            // from 01 somewhere. OR-ed over the row, four fields tell the four rows it serves.
            var threes = System.Numerics.Vector<byte>.Zero;
            var notOne = System.Numerics.Vector<byte>.Zero;
            int c = 0;
            for (; c + w <= k; c += w)
            {
                var v = new System.Numerics.Vector<byte>(inRow[c..]);
                threes |= v & (v >> 1) & odd;
                notOne |= v ^ odd;
            }
            int t3 = 0, ne = 0;
            for (int i = 0; i < w; i++) { t3 |= threes[i]; ne |= notOne[i]; }
            for (; c < k; c++) { int v = inRow[c]; t3 |= v & (v >> 1) & 0x55; ne |= v ^ 0x55; }
            if (t3 != 0) return null; // a code of 3 unpacks to 2: not ternary
            for (int j = 0; j < 4; j++)
            {
                int row = j * pr + pRow;
                int shift = m.Shifts[j];
                float scale = m.Scales is null ? 1f : m.Scales[m.Scales.Length == 1 ? 0 : row];
                bool seen = ((ne >> shift) & 3) != 0;
                rowMag[row] = seen && scale != 0 ? BitConverter.SingleToUInt32Bits(Math.Abs(scale)) : 0u;
            }
        }
        uint common = rowMag.Where(v => v != 0).GroupBy(v => v).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();
        if (common == 0) return null;
        bool perTensor = rowMag.All(v => v == 0 || v == common);
        var bits = perTensor ? [(ulong)common] : rowMag.Select(v => (ulong)(v == 0 ? 0x3F80_0000u : v)).ToArray();
        return new ScanResult { IsTernary = true, PerTensor = perTensor, ScaleBits = bits };
    }

    /// <summary>
    /// Writes the TTF1 rows of a validated match: a code is trit + 1, a TTF1 digit already; (code - 1)
    /// * scale flips the trit with a negative scale (digit 2 - code) and a zero scale zeroes it (digit 1).
    /// </summary>
    public static unsafe void Encode(Match m, TernaryLayout rows, Span<byte> packedOut)
    {
        var p = m.Bytes;
        int pr = (int)p.Dims[0], k = (int)p.Dims[1], n = pr * 4;
        if (rows.M != n || rows.K != k || packedOut.Length != rows.PackedBytes) throw new ArgumentException("the layout does not fit the packed bytes");
        using var bytes = p.Data.Open();
        var src = bytes.Memory;
        int rowBytes = (int)rows.RowBytes, length = packedOut.Length;
        int workers = Math.Max(1, Math.Min(Environment.ProcessorCount, n / 64));
        fixed (byte* outPtr = packedOut)
        {
            nint address = (nint)outPtr;
            // Rows split over the cores (the writer waits for this tensor meanwhile).
            Parallel.For(0, workers, w =>
            {
                var all = new Span<byte>((byte*)address, length);
                var digits = new byte[k];
                for (int row = n * w / workers; row < n * (w + 1) / workers; row++)
                {
                    int j = row / pr, pRow = row % pr, shift = m.Shifts[j];
                    float scale = m.Scales is null ? 1f : m.Scales[m.Scales.Length == 1 ? 0 : row];
                    var inRow = src.Span.Slice(pRow * k, k);
                    if (scale == 0) digits.AsSpan().Fill(1);
                    else if (float.IsNegative(scale))
                        for (int c = 0; c < k; c++) digits[c] = (byte)(2 - ((inRow[c] >> shift) & 3));
                    else
                        for (int c = 0; c < k; c++) digits[c] = (byte)((inRow[c] >> shift) & 3);
                    DigitRows.Pack(digits, all.Slice(row * rowBytes, rowBytes));
                }
            });
        }
    }
}
