using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary.Sources;

/// <summary>
/// An already-quantized weight: com.microsoft::MatMulNBits (ONNX Runtime; Olive and the GenAI model
/// builder write it, int4 by default). Its weight is W[n, k] = (q[n, k] - zero_point[n, b]) * scale[n, b]
/// for block b = k / block_size. A ternary weight quantized with block scales comes out as exactly
/// {-q, 0, +q} per block; when every row's non-zero values share one magnitude (TTF1 keeps one scale
/// per tensor or per output channel) the weight is transcoded losslessly, else it stays as it is and
/// the report says why. Sizes that disagree with K, N, bits and block_size are an error naming the node.
/// </summary>
internal static class MatMulNBitsSource
{
    public const string Domain = "com.microsoft";

    /// <summary>A MatMulNBits whose sizes were checked, waiting for its values to be read.</summary>
    private sealed record Candidate(Graph Graph, Node Node, string Name, Value B, Tensor Codes, Tensor Scales, Tensor? ZeroPoints,
        int K, int N, int Bits, int BlockSize);

    public static void ConsiderAll(Model model, PassContext ctx, TernaryDetections found)
    {
        // Sizes first, in graph order (an inconsistent node stops the compile); the values of the
        // consistent ones are then read in parallel, and the results recorded in graph order.
        var candidates = new List<Candidate>();
        foreach (var g in model.AllGraphs().ToList())
            foreach (var n in g.Nodes.ToList())
                if (n.OpType == "MatMulNBits" && n.DomainName == Domain && Check(g, n, ctx) is { } c)
                    candidates.Add(c);
        if (candidates.Count == 0) return;
        int threads = ctx.Options.Threads > 0 ? ctx.Options.Threads : Environment.ProcessorCount;
        var outcomes = new (TernaryWeight? Weight, string? Rejected)[candidates.Count];
        Parallel.For(0, candidates.Count, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = ctx.Cancellation },
            i => outcomes[i] = Transcode(candidates[i], ctx));
        for (int i = 0; i < candidates.Count; i++)
        {
            var (w, why) = outcomes[i];
            if (w is not null)
            {
                found.Weights.Add(w);
                ctx.Logger.LogDebug("ternary: MatMulNBits {Node} ({Bits}-bit, block {Block}): {Kind} scale", candidates[i].Node.Describe(), candidates[i].Bits, candidates[i].BlockSize, w.PerTensor ? "per-tensor" : "per-channel");
            }
            else DetectTernaryWeights.RejectWith(ctx, candidates[i].Name, why!, WeightSources.MatMulNBits);
        }
    }

    private static Candidate? Check(Graph g, Node node, PassContext ctx)
    {
        string name = node.Input(1)?.Name ?? node.Describe();
        Candidate? Reject(string why) { DetectTernaryWeights.RejectWith(ctx, name, why, WeightSources.MatMulNBits); return null; }
        if (node.Outputs.Count == 0 || node.Outputs[0] is null) return Reject($"{node.Describe()} has its output omitted");
        if (node.Input(1) is not { Initializer: { } b } bValue || node.Input(2) is not { Initializer: { } scales })
            return Reject("its weight or scales are not initializers");
        long k = node.GetInt("K", -1), nOut = node.GetInt("N", -1), bits = node.GetInt("bits", 4), blockSize = node.GetInt("block_size", -1);
        var bad = Bad(node);
        if (k <= 0 || nOut <= 0) throw bad($"K {k} and N {nOut} must be positive");
        if (bits is not (2 or 4 or 8)) return Reject($"bits={bits}: only 2, 4 and 8 are read");
        if (blockSize < 16 || (blockSize & (blockSize - 1)) != 0) throw bad($"block_size {blockSize} is not a power of two of at least 16");
        long blocks = (k + blockSize - 1) / blockSize;
        long blob = blockSize * bits / 8;
        if (b.DataType != DataType.UInt8) throw bad($"B '{bValue.Name}' is {DataTypes.ShortName(b.DataType)}, not uint8");
        if (b.ElementCount != nOut * blocks * blob)
            throw bad($"B '{bValue.Name}' is [{string.Join(",", b.Dims)}] but K={k}, N={nOut}, bits={bits}, block_size={blockSize} need [{nOut},{blocks},{blob}]");
        if (scales.DataType is not (DataType.Float or DataType.Float16)) return Reject($"scales are {DataTypes.ShortName(scales.DataType)}");
        if (scales.ElementCount != nOut * blocks)
            throw bad($"scales '{node.Input(2)!.Name}' hold {scales.ElementCount:N0} values but N={nOut} rows of {blocks} block(s) need {nOut * blocks:N0}");
        Tensor? zp = null;
        if (node.Input(3) is { } zpValue)
        {
            if (zpValue.Initializer is not { } z) return Reject("its zero points are not an initializer");
            if (z.DataType != DataType.UInt8) return Reject($"zero points of type {DataTypes.ShortName(z.DataType)} (only packed uint8 ones are read)");
            long perRow = (blocks * bits + 7) / 8;
            if (z.ElementCount != nOut * perRow)
                throw bad($"zero points '{zpValue.Name}' hold {z.ElementCount:N0} bytes but N={nOut} rows of {blocks} {bits}-bit value(s) need {nOut * perRow:N0}");
            zp = z;
        }
        if (node.Input(4) is not null) return Reject("it has a g_idx (act-order) input");
        long elements = k * nOut;
        if (elements < ctx.Options.MinElements) return Reject($"{elements:N0} elements, fewer than --min-elements {ctx.Options.MinElements:N0}");
        if (elements > int.MaxValue) return Reject($"{elements:N0} weights are more than one buffer holds");
        return new Candidate(g, node, name, bValue, b, scales, zp, (int)k, (int)nOut, (int)bits, (int)blockSize);
    }

    /// <summary>
    /// Reads the codes straight into trits: per block, each code's value (q - zero_point) * scale is
    /// one float32 multiplication rounded once to the scale's type — what the dequantized weight holds
    /// — and a row is ternary when every non-zero value has the row's magnitude. No float weight is
    /// materialised.
    /// </summary>
    private static (TernaryWeight?, string?) Transcode(Candidate c, PassContext ctx)
    {
        int n = c.N, k = c.K, bits = c.Bits, blockSize = c.BlockSize;
        int blocks = (k + blockSize - 1) / blockSize, blob = blockSize * bits / 8, perByte = 8 / bits, mask = (1 << bits) - 1;
        int zpRow = (blocks * bits + 7) / 8, codesCount = 1 << bits;
        bool half = c.Scales.DataType == DataType.Float16;
        using var codes = c.Codes.Data.Open();
        using var scales = c.Scales.Data.Open();
        using var zeroPoints = c.ZeroPoints?.Data.Open();
        var rows = TernaryLayout.Matrix(n, k, ctx.Options.BlockSize);
        int rowBytes = (int)rows.RowBytes;
        using var packedBuffer = new NativeBuffer((int)rows.PackedBytes);
        var packedOut = packedBuffer.GetSpan();
        var digits = new byte[k];
        var rowMagnitude = new uint[n]; // raw bits of |value| (float32 or float16), 0 = no non-zero value yet
        var mags = new uint[codesCount];
        var codeDigits = new byte[codesCount]; // trit + 1
        var blockCodes = new byte[blockSize];
        var present = new bool[codesCount];
        var q = codes.Span;
        var sc = scales.Span;
        var z = zeroPoints is { } zb ? zb.Span : default;
        for (int row = 0; row < n; row++)
        {
            uint rowMag = 0;
            for (int blk = 0; blk < blocks; blk++)
            {
                int si = row * blocks + blk;
                float scale = half ? (float)BitConverter.ToHalf(sc.Slice(si * 2, 2)) : BitConverter.ToSingle(sc.Slice(si * 4, 4));
                int zp = zeroPoints is null ? 1 << (bits - 1) : (z[row * zpRow + blk / perByte] >> (blk % perByte * bits)) & mask;
                // The value of every possible code in this block, as the dequantized weight holds it.
                for (int code = 0; code < codesCount; code++)
                {
                    float v = (code - zp) * scale;
                    uint b = half ? BitConverter.HalfToUInt16Bits((Half)v) : BitConverter.SingleToUInt32Bits(v);
                    uint abs = b & (half ? 0x7FFFu : 0x7FFF_FFFFu);
                    mags[code] = abs;
                    codeDigits[code] = abs == 0 ? (byte)1 : (b & (half ? 0x8000u : 0x8000_0000u)) != 0 ? (byte)0 : (byte)2;
                }
                var blobBytes = q.Slice(si * blob, blob);
                int start = blk * blockSize, end = Math.Min(k, start + blockSize);
                Unpack(blobBytes, bits, blockCodes);
                // Digits by table; which codes occur is all the checks need (one look per code, not per weight).
                Array.Clear(present);
                for (int kk = start; kk < end; kk++)
                {
                    int code = blockCodes[kk - start];
                    present[code] = true;
                    digits[kk] = codeDigits[code];
                }
                for (int code = 0; code < codesCount; code++)
                {
                    uint m = mags[code];
                    if (!present[code] || m == 0) continue;
                    int At() => start + blockCodes.AsSpan(0, end - start).IndexOf((byte)code);
                    if (IsNotFinite(m, half)) return (null, $"its dequantized weight holds a NaN or infinity at [{At()}, {row}]");
                    if (rowMag == 0) rowMag = m;
                    else if (m != rowMag) return (null, NotTernary(c, row, At(), m, rowMag, half));
                }
            }
            DigitRows.Pack(digits, packedOut.Slice(row * rowBytes, rowBytes));
            rowMagnitude[row] = rowMag;
        }
        var (perTensor, scaleBits) = Scales(rowMagnitude, half);
        if (scaleBits.Length == 0) return (null, "its dequantized weight is all zeros");
        var packed = ctx.Spill.Add(packedOut);
        var type = c.Scales.DataType;
        return (new TernaryWeight
        {
            Name = c.Name, Target = null, Source = c.B, Graph = c.Graph, Shape = [k, n], Axis = 0, Type = type,
            PerTensor = perTensor, ScaleBits = scaleBits, Packed = packed, NBitsNode = c.Node,
            SourceKind = WeightSources.MatMulNBits, SourceOps = ["MatMulNBits"],
            OriginalBytes = c.Codes.ByteLength + c.Scales.ByteLength + (c.ZeroPoints?.ByteLength ?? 0),
        }, null);
    }

    /// <summary>A block's codes, low bits first within each byte.</summary>
    private static void Unpack(ReadOnlySpan<byte> blob, int bits, Span<byte> codes)
    {
        switch (bits)
        {
            case 8: blob.CopyTo(codes); break;
            case 4:
                for (int i = 0; i < blob.Length; i++) { byte v = blob[i]; codes[2 * i] = (byte)(v & 15); codes[2 * i + 1] = (byte)(v >> 4); }
                break;
            default:
                for (int i = 0; i < blob.Length; i++)
                {
                    byte v = blob[i];
                    codes[4 * i] = (byte)(v & 3); codes[4 * i + 1] = (byte)(v >> 2 & 3); codes[4 * i + 2] = (byte)(v >> 4 & 3); codes[4 * i + 3] = (byte)(v >> 6);
                }
                break;
        }
    }

    private static bool IsNotFinite(uint abs, bool half) => half ? (abs & 0x7C00) == 0x7C00 : (abs & 0x7F80_0000) == 0x7F80_0000;

    private static string NotTernary(Candidate c, int row, int col, uint value, uint rowMag, bool half)
    {
        static string F(uint bits, bool half) => (half ? (double)BitConverter.UInt16BitsToHalf((ushort)bits) : BitConverter.UInt32BitsToSingle(bits))
            .ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
        return $"its dequantized weight is not ternary: output channel {row} holds ±{F(value, half)} at [{col}, {row}] next to ±{F(rowMag, half)} (its blocks' scales differ)";
    }

    /// <summary>One scale when every non-zero row has the same magnitude, else one per row (1.0 for an all-zero row), as the scan decides.</summary>
    private static (bool PerTensor, ulong[] Bits) Scales(uint[] rowMagnitude, bool half)
    {
        uint common = rowMagnitude.Where(m => m != 0).GroupBy(m => m).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();
        if (common == 0) return (true, []);
        if (rowMagnitude.All(m => m == 0 || m == common)) return (true, [common]);
        uint one = half ? 0x3C00u : 0x3F80_0000u;
        return (false, rowMagnitude.Select(m => (ulong)(m == 0 ? one : m)).ToArray());
    }

    private static Func<string, TernionException> Bad(Node n) => why => new TernionException($"MatMulNBits {n.Describe()}: {why}");
}
