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
    /// Reads the codes of a MatMulNBits: per block, each code's value (q - zero_point) * scale is one
    /// float32 multiplication rounded once to the scale's type — what the dequantized weight holds —
    /// and a row is ternary when every non-zero value has the row's magnitude. Only which codes occur
    /// is looked at here; the TTF1 bytes are written later, while the model is written (on another
    /// core, ahead of the writer), straight from the codes: no float weight is ever made.
    /// </summary>
    private static (TernaryWeight?, string?) Transcode(Candidate c, PassContext ctx)
    {
        var rowMagnitude = new uint[c.N];
        if (Walk(c, null, rowMagnitude) is { } why) return (null, why);
        bool half = c.Scales.DataType == DataType.Float16;
        var (perTensor, scaleBits) = Scales(rowMagnitude, half);
        if (scaleBits.Length == 0) return (null, "its dequantized weight is all zeros");
        var rows = TernaryLayout.Matrix(c.N, c.K, ctx.Options.BlockSize);
        var packed = new DeferredTensorData(rows.PackedBytes, dst =>
        {
            if (Walk(c, dst, null) is { } changed) throw new TernionException($"MatMulNBits {c.Node.Describe()}: {changed} (its tensors changed since they were read)");
        });
        return (new TernaryWeight
        {
            Name = c.Name, Target = null, Source = c.B, Graph = c.Graph, Shape = [c.K, c.N], Axis = 0, Type = c.Scales.DataType,
            PerTensor = perTensor, ScaleBits = scaleBits, Packed = packed, NBitsNode = c.Node,
            SourceKind = WeightSources.MatMulNBits, SourceOps = ["MatMulNBits"],
            OriginalBytes = c.Codes.ByteLength + c.Scales.ByteLength + (c.ZeroPoints?.ByteLength ?? 0),
        }, null);
    }

    /// <summary>
    /// One pass over the codes, block by block. With <paramref name="packedOut"/>, writes the TTF1 rows
    /// (digit = trit + 1, by a table from each byte to its codes' digits), rows split over the cores;
    /// with <paramref name="rowMagnitude"/>, checks that each row's non-zero values share one magnitude
    /// and records it. The tables depend on a block's scale and zero point only, so they are rebuilt
    /// when those change (rarely: a ternary weight's blocks share them). Returns why not, or null.
    /// </summary>
    private static string? Walk(Candidate c, Span<byte> packedOut, uint[]? rowMagnitude)
    {
        using var codes = c.Codes.Data.Open();
        using var scales = c.Scales.Data.Open();
        using var zeroPoints = c.ZeroPoints?.Data.Open();
        var q = codes.Memory;
        var sc = scales.Memory;
        var z = zeroPoints?.Memory ?? default;
        if (packedOut.IsEmpty) return Check(c, q.Span, sc.Span, z.Span, rowMagnitude!);
        unsafe
        {
            fixed (byte* outPtr = packedOut)
            {
                nint address = (nint)outPtr;
                int length = packedOut.Length, n = c.N;
                int workers = Math.Max(1, Math.Min(Environment.ProcessorCount, n / 64));
                Parallel.For(0, workers, w =>
                {
                    var all = new Span<byte>((byte*)address, length);
                    Write(c, q.Span, sc.Span, z.Span, all, n * w / workers, n * (w + 1) / workers);
                });
            }
        }
        return null;
    }

    /// <summary>Block tables: the value of each code, for the current scale and zero point.</summary>
    private sealed class BlockTables(int bits, bool half)
    {
        public readonly uint[] Magnitude = new uint[1 << bits];
        public readonly byte[] Digit = new byte[1 << bits];
        /// <summary>Per byte value: its codes' digits, lowest code first.</summary>
        public readonly byte[] ByteDigits = new byte[256 * (8 / bits)];
        private float _scale = float.NaN;
        private int _zp = -1;
        /// <summary>Changes whenever the tables do.</summary>
        public int Version { get; private set; }

        public void Set(float scale, int zp)
        {
            if (BitConverter.SingleToUInt32Bits(scale) == BitConverter.SingleToUInt32Bits(_scale) && zp == _zp) return;
            _scale = scale; _zp = zp;
            Version++;
            for (int code = 0; code < Magnitude.Length; code++)
            {
                float v = (code - zp) * scale;
                uint b = half ? BitConverter.HalfToUInt16Bits((Half)v) : BitConverter.SingleToUInt32Bits(v);
                uint abs = b & (half ? 0x7FFFu : 0x7FFF_FFFFu);
                Magnitude[code] = abs;
                Digit[code] = abs == 0 ? (byte)1 : (b & (half ? 0x8000u : 0x8000_0000u)) != 0 ? (byte)0 : (byte)2;
            }
            int per = 8 / bits, mask = (1 << bits) - 1;
            for (int v = 0; v < 256; v++)
                for (int e = 0; e < per; e++) ByteDigits[v * per + e] = Digit[(v >> (e * bits)) & mask];
        }
    }

    private static (float Scale, int Zp) BlockParameters(Candidate c, ReadOnlySpan<byte> sc, ReadOnlySpan<byte> z, int row, int blk, int blocks)
    {
        bool half = c.Scales.DataType == DataType.Float16;
        int si = row * blocks + blk, bits = c.Bits, perByte = 8 / bits;
        float scale = half ? (float)BitConverter.ToHalf(sc.Slice(si * 2, 2)) : BitConverter.ToSingle(sc.Slice(si * 4, 4));
        int zpRow = (blocks * bits + 7) / 8;
        int zp = c.ZeroPoints is null ? 1 << (bits - 1) : (z[row * zpRow + blk / perByte] >> (blk % perByte * bits)) & ((1 << bits) - 1);
        return (scale, zp);
    }

    /// <summary>For 2- and 4-bit codes: per byte value, the set of codes in it (bit c set for code c).</summary>
    private static readonly uint[][] CodesInByte = [Masks(2), Masks(4)];

    private static uint[] Masks(int bits)
    {
        var m = new uint[256];
        for (int v = 0; v < 256; v++)
            for (int e = 0; e < 8 / bits; e++) m[v] |= 1u << ((v >> (e * bits)) & ((1 << bits) - 1));
        return m;
    }

    private static string? Check(Candidate c, ReadOnlySpan<byte> q, ReadOnlySpan<byte> sc, ReadOnlySpan<byte> z, uint[] rowMagnitude)
    {
        int n = c.N, k = c.K, bits = c.Bits, blockSize = c.BlockSize;
        int blocks = (k + blockSize - 1) / blockSize, blob = blockSize * bits / 8, per = 8 / bits, mask = (1 << bits) - 1;
        bool half = c.Scales.DataType == DataType.Float16;
        var tables = new BlockTables(bits, half);
        var byteMasks = bits == 8 ? null : CodesInByte[bits == 2 ? 0 : 1];
        Span<ulong> present = stackalloc ulong[4];
        for (int row = 0; row < n; row++)
        {
            uint rowMag = 0;
            // Codes already found fine under these tables in this row: a block holding no others needs no look.
            uint checkedCodes = 0;
            int checkedVersion = -1;
            for (int blk = 0; blk < blocks; blk++)
            {
                var (scale, zp) = BlockParameters(c, sc, z, row, blk, blocks);
                tables.Set(scale, zp);
                int start = blk * blockSize, count = Math.Min(k, start + blockSize) - start;
                var bytes = q.Slice((row * blocks + blk) * blob, (count * bits + 7) / 8);
                // Which codes occur is all the check needs: one look per code, not per weight.
                present.Clear();
                if (byteMasks is not null)
                {
                    int whole = count / per;
                    uint m = 0;
                    for (int i = 0; i < whole; i++) m |= byteMasks[bytes[i]];
                    // A last byte only partly inside K: its codes past K are padding, not weights.
                    for (int e = whole * per; e < count; e++) m |= 1u << ((bytes[e / per] >> (e % per * bits)) & mask);
                    present[0] = m;
                    if (tables.Version == checkedVersion && (m & ~checkedCodes) == 0) continue;
                }
                else foreach (var code in bytes) present[code >> 6] |= 1UL << code;
                for (int code = 0; code <= mask; code++)
                {
                    uint m = tables.Magnitude[code];
                    if ((present[code >> 6] & (1UL << code)) == 0 || m == 0) continue;
                    if (IsNotFinite(m, half)) return $"its dequantized weight holds a NaN or infinity in output channel {row}, block {blk}";
                    if (rowMag == 0) rowMag = m;
                    else if (m != rowMag) return NotTernary(c, row, start + FirstOf(bytes, code, bits, count), m, rowMag, half);
                }
                if (byteMasks is not null)
                {
                    if (tables.Version != checkedVersion) { checkedVersion = tables.Version; checkedCodes = 0; }
                    checkedCodes |= (uint)present[0];
                }
            }
            rowMagnitude[row] = rowMag;
        }
        return null;
    }

    private static int FirstOf(ReadOnlySpan<byte> bytes, int code, int bits, int count)
    {
        int per = 8 / bits, mask = (1 << bits) - 1;
        for (int e = 0; e < count; e++) if (((bytes[e / per] >> (e % per * bits)) & mask) == code) return e;
        return 0;
    }

    private static void Write(Candidate c, ReadOnlySpan<byte> q, ReadOnlySpan<byte> sc, ReadOnlySpan<byte> z, Span<byte> packedOut, int rowFrom, int rowTo)
    {
        int n = c.N, k = c.K, bits = c.Bits, blockSize = c.BlockSize;
        int blocks = (k + blockSize - 1) / blockSize, blob = blockSize * bits / 8;
        int rowBytes = packedOut.Length / n;
        var tables = new BlockTables(bits, c.Scales.DataType == DataType.Float16);
        var digits = new byte[blocks * blockSize];
        for (int row = rowFrom; row < rowTo; row++)
        {
            for (int blk = 0; blk < blocks; blk++)
            {
                var (scale, zp) = BlockParameters(c, sc, z, row, blk, blocks);
                tables.Set(scale, zp);
                var bytes = q.Slice((row * blocks + blk) * blob, blob);
                var dst = digits.AsSpan(blk * blockSize, blockSize);
                // One table look per byte: its two (4-bit), four (2-bit) or one (8-bit) digits at once.
                switch (bits)
                {
                    case 4:
                    {
                        var t = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(tables.ByteDigits.AsSpan());
                        var d = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(dst);
                        for (int i = 0; i < bytes.Length; i++) d[i] = t[bytes[i]];
                        break;
                    }
                    case 2:
                    {
                        var t = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(tables.ByteDigits.AsSpan());
                        var d = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(dst);
                        for (int i = 0; i < bytes.Length; i++) d[i] = t[bytes[i]];
                        break;
                    }
                    default:
                        for (int i = 0; i < bytes.Length; i++) dst[i] = tables.ByteDigits[bytes[i]];
                        break;
                }
            }
            DigitRows.Pack(digits.AsSpan(0, k), packedOut.Slice(row * rowBytes, rowBytes));
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
