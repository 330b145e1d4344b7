using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Replaces each detected weight by a uint8 TTF1 initializer, a scale initializer and a
/// com.ternion::TernaryDecode node producing the same tensor (under the weight's own name), so the
/// model means exactly what it meant. Packing itself runs when the bytes are first read — normally
/// while the model is written — so a large model streams tensor by tensor.
/// </summary>
public sealed class PackTernaryWeights : IPass
{
    public string Name => "PackTernaryWeights";
    public bool InPlace => true;

    public PassResult Run(Model model, PassContext context)
    {
        var found = context.State<TernaryDetections>().Weights;
        int bs = context.Options.BlockSize;
        foreach (var w in found)
        {
            var layout = new TernaryLayout(w.Shape, w.Axis, bs);
            var g = w.Graph;
            string name = w.Target.Name;
            var source = w.Source.Initializer!;
            int threads = context.Options.Threads;
            TensorData packedData = w.Dequantize is null
                ? new DeferredTensorData(layout.PackedBytes, packedBytes =>
                {
                    using var dense = source.Data.Open();
                    TernaryData.Pack(dense.Span, w.Type, layout, w.ScaleBits, name, threads, packedBytes);
                })
                : new DeferredTensorData(layout.PackedBytes, packedBytes =>
                {
                    using var int8 = source.Data.Open();
                    TernaryData.PackInt8(int8.Span, layout, name, threads, packedBytes);
                });
            var packed = g.AddInitializer(new Tensor(null, DataType.UInt8, [layout.M, layout.RowBytes], packedData), $"{name}.ttf1");
            var scale = w.ScaleValue ?? g.AddInitializer(new Tensor(null, w.Type, w.PerTensor ? [] : [layout.M],
                new MemoryTensorData(TernaryData.ScaleBytes(w.Type, w.ScaleBits))), $"{name}.scale");

            var decode = TernaryDecodeOp.Create(packed, scale, w.Shape, w.Axis, bs, w.Type);
            var first = FirstConsumer(g, w.Target) ?? throw new InvalidOperationException($"weight '{name}' has no consumer in its graph");
            g.InsertBefore(first, decode);
            var decoded = decode.Output();
            var valueInfo = w.Target.Type;
            bool hadValueInfo = g.ValueInfos.Contains(w.Target);
            w.Target.ReplaceAllUsesWith(decoded);

            // Retire the dense weight (and the DequantizeLinear), then give its name to the decoded value.
            if (w.Dequantize is { } dq)
            {
                g.Remove(dq);
                if (!w.Source.IsUsed) g.RemoveInitializer(w.Source);
            }
            else g.RemoveInitializer(w.Target);
            g.Rename(decoded, name);
            if (hadValueInfo) g.ValueInfos.Add(decoded);

            context.Report.TernaryWeights.Add(new TernaryWeightEntry
            {
                Name = name, Shape = w.Shape, DType = DataTypes.ShortName(w.Type), Axis = w.Axis,
                ScaleKind = w.PerTensor ? "per-tensor" : "per-channel", PackedBytes = layout.PackedBytes,
                OriginalBytes = source.ByteLength,
            });
            context.Logger.LogDebug("packed '{Name}': {Before:N0} -> {After:N0} bytes", name, source.ByteLength, layout.PackedBytes);
        }
        if (found.Count > 0) TernaryDecodeOp.MarkModel(model);
        return new PassResult(model, found.Count > 0, found.Count);
    }

    /// <summary>The earliest node of <paramref name="g"/> that reads the value, directly or from a subgraph.</summary>
    internal static Node? FirstConsumer(Graph g, Value v)
    {
        var owners = v.Uses.Select(u => ModelValidator.OwnerIn(g, u.Node)).Where(n => n is not null).ToHashSet();
        return g.Nodes.FirstOrDefault(owners.Contains);
    }
}
