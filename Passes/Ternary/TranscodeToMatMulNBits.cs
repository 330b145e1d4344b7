using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Lossless transcoding for ONNX Runtime's native low-bit kernels: a TernaryDecode feeding only
/// MatMul B operands (rank-2 [K, N], float32 or float16) becomes com.microsoft::MatMulNBits with
/// bits=2. Each trit t is stored as q = t + 2 with the default zero point 2 and the channel's scale
/// in every block, so (q - 2) * scale gives back exactly t * scale. Others keep their TernaryDecode.
/// The weights are exact at any accuracy level; the level says how ONNX Runtime computes with them:
/// 0 (the default) in the activations' float type, 4 with activations quantized to int8 per block
/// (ORT's fast integer kernel; close to, not equal to, the float result).
/// </summary>
public sealed class TranscodeToMatMulNBits(int accuracyLevel = 0) : InPlacePass
{
    /// <summary>MatMulNBits' accuracy_level: 0 (unset: the float type of the input) up to 4 (int8).</summary>
    public int AccuracyLevel { get; } = accuracyLevel is >= 0 and <= 4 ? accuracyLevel
        : throw new ArgumentOutOfRangeException(nameof(accuracyLevel), accuracyLevel, "MatMulNBits accuracy_level is 0 to 4");

    public const string MsDomain = "com.microsoft";
    /// <summary>Elements per quantization block (a power of two of at least 16); scales repeat per block.</summary>
    public const int NBitsBlockSize = 32;

    public override string Name => "TranscodeToMatMulNBits";

    protected override int Apply(Model model, PassContext context)
    {
        int count = 0;
        foreach (var g in model.AllGraphs().ToList())
            foreach (var n in g.Nodes)
            {
                if (!TernaryDecodeOp.Is(n)) continue;
                if (!Eligible(n, g, out string? why))
                {
                    context.Logger.LogDebug("TernaryDecode {Node} stays: {Why}", n.Describe(), why);
                    continue;
                }
                Transcode(g, n, context.Options.Threads, AccuracyLevel);
                count++;
            }
        if (count > 0)
        {
            model.RequireOpset(MsDomain, 1);
            TernaryDecodeOp.UnmarkIfUnused(model);
        }
        return count;
    }

    /// <summary>Column n of the [K, N] weight becomes row n: q = t + 2 at bits 2*(k % 4) of byte k / 4.</summary>
    private static void WriteTwoBit(sbyte[] trits, long n, long k, long rowBytes, Span<byte> q)
    {
        // Every 2-bit field starts as q = 2 (zero after the zero point), padding included.
        q.Fill(0b10101010);
        for (long col = 0; col < n; col++)
        {
            var row = q.Slice((int)(col * rowBytes), (int)rowBytes);
            for (long kk = 0; kk < k; kk++)
            {
                int shift = (int)(kk % 4) * 2;
                int value = trits[col * k + kk] + 2;
                row[(int)(kk / 4)] = (byte)((row[(int)(kk / 4)] & ~(3 << shift)) | (value << shift));
            }
        }
    }

    private static bool Eligible(Node n, Graph g, out string? why)
    {
        why = null;
        var layout = TernaryDecodeOp.Layout(n);
        var w = n.Output();
        if (n.Input(0) is not { IsInitializer: true } || n.Input(1) is not { Initializer: { } s }) { why = "inputs are not constants"; return false; }
        if (s.DataType is not (DataType.Float or DataType.Float16)) { why = $"{DataTypes.ShortName(s.DataType)} has no MatMulNBits kernel"; return false; }
        if (layout.Rank != 2 || layout.Axis != 0) { why = "not a [K, N] MatMul weight"; return false; }
        if (w.IsGraphOutput || w.Uses.Count == 0) { why = "the weight itself is needed"; return false; }
        foreach (var u in w.Uses)
            if (u.Node is not { OpType: "MatMul" } mm || mm.DomainName.Length != 0 || u.InputIndex != 1 || !ReferenceEquals(mm.Graph, g))
            { why = $"read by {u.Node.Describe()}, not only as a MatMul B operand"; return false; }
            else if (mm.Outputs.Count == 0 || mm.Outputs[0] is null)
            { why = $"{mm.Describe()} has its output omitted"; return false; }
        // The trits are decoded into one array on the way: it must fit one.
        if (layout.ElementCount > Array.MaxLength) { why = $"{layout.ElementCount:N0} weights are more than one array holds"; return false; }
        return true;
    }

    private static void Transcode(Graph g, Node decode, int threads, int accuracyLevel)
    {
        var layout = TernaryDecodeOp.Layout(decode);
        var packed = decode.Input(0)!;
        var scale = decode.Input(1)!;
        var scaleT = scale.Initializer!;
        long k = layout.K, n = layout.M;
        long blocks = (k + NBitsBlockSize - 1) / NBitsBlockSize;
        int blob = NBitsBlockSize * 2 / 8;
        string name = decode.Output().Name;

        var packedT = packed.Initializer!;
        var qData = new DeferredTensorData(n * blocks * blob, q =>
        {
            using var p = packedT.Data.Open();
            var trits = TernaryData.DecodeTrits(p.Span, layout, packed.Name, threads); // [N, K], channel by channel
            WriteTwoBit(trits, n, k, blocks * blob, q);
        });
        int size = (int)DataTypes.ByteCount(scaleT.DataType, 1);
        var scalesData = new DeferredTensorData(n * blocks * size, dst =>
        {
            using var s = scaleT.Data.Open();
            var src = s.Span;
            for (long col = 0; col < n; col++)
            {
                var one = src.Length == size ? src : src.Slice((int)(col * size), size);
                for (long b = 0; b < blocks; b++) one.CopyTo(dst[(int)((col * blocks + b) * size)..]);
            }
        });
        var qValue = g.AddInitializer(new Tensor(null, DataType.UInt8, [n, blocks, blob], qData), $"{name}.q2");
        var sValue = g.AddInitializer(new Tensor(null, scaleT.DataType, [n * blocks], scalesData), $"{name}.q2_scales");

        foreach (var u in decode.Output().Uses.ToList())
        {
            var mm = u.Node;
            var nbits = new Node(MsDomain, "MatMulNBits", [mm.Input(0), qValue, sValue], [new Value("", mm.Output().Type)],
                [Attribute.Int("K", k), Attribute.Int("N", n), Attribute.Int("bits", 2), Attribute.Int("block_size", NBitsBlockSize), Attribute.Int("accuracy_level", accuracyLevel)],
                name: mm.Name);
            g.InsertBefore(mm, nbits);
            var result = mm.Output();
            string outName = result.Name;
            bool hadValueInfo = g.ValueInfos.Contains(result);
            result.ReplaceAllUsesWith(nbits.Output(), replaceGraphOutputs: true);
            g.Remove(mm);
            g.Rename(nbits.Output(), outName);
            if (hadValueInfo) g.ValueInfos.Add(nbits.Output());
        }
        g.Remove(decode);
        if (!packed.IsUsed) g.RemoveInitializer(packed);
        if (!scale.IsUsed) g.RemoveInitializer(scale);
    }
}
