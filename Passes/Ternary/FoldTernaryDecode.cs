using Ternion.IR;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Decodes at compile time: every TernaryDecode of constant inputs becomes a plain initializer
/// bit-identical to the original weight (-0.0 comes back as +0.0), leaving standard ONNX only.
/// Decoding is strict: a reserved byte (243..255) is an error naming the tensor and byte offset.
/// </summary>
public sealed class FoldTernaryDecode : InPlacePass
{
    public override string Name => "FoldTernaryDecode";

    protected override int Apply(Model model, PassContext context)
    {
        int folded = 0;
        foreach (var g in model.AllGraphs().ToList())
            foreach (var n in g.Nodes)
            {
                if (!TernaryDecodeOp.Is(n)) continue;
                if (n.Input(0) is not { Initializer: { } packedT } packed || n.Input(1) is not { Initializer: { } scaleT } scale)
                    throw new TernionException($"TernaryDecode {n.Describe()}: its inputs are not constants, so it cannot be folded for a target without TernaryDecode");
                var layout = TernaryDecodeOp.Layout(n);
                var output = n.Output();
                string name = output.Name;
                var type = scaleT.DataType;
                int threads = context.Options.Threads;
                long bytes = Ternion.IR.DataTypes.ByteCount(type, layout.ElementCount);
                // The decoded weight is produced in one array: refuse what cannot fit one, before
                // allocating gigabytes (a small packed tensor can declare a huge shape).
                if (bytes < 0 || bytes > int.MaxValue)
                    throw new TernionException($"TernaryDecode {n.Describe()}: the decoded weight [{string.Join(",", layout.Shape)}] would be {bytes:N0} bytes; folding handles at most {int.MaxValue:N0} bytes per tensor (choose a target that keeps TernaryDecode)");
                var data = new DeferredTensorData(bytes, dense =>
                {
                    using var p = packedT.Data.Open();
                    using var s = scaleT.Data.Open();
                    TernaryData.Decode(p.Span, layout, type, s.Span, packed.Name, threads, dense);
                });
                bool hadValueInfo = g.ValueInfos.Contains(output);
                var dense = g.AddInitializer(new Tensor(null, type, layout.Shape, data), name + ".folded");
                output.ReplaceAllUsesWith(dense, replaceGraphOutputs: true);
                g.Remove(n);
                if (!packed.IsUsed && packed.IsInitializer && ReferenceEquals(packed.Graph, g)) g.RemoveInitializer(packed);
                if (!scale.IsUsed && scale.IsInitializer && ReferenceEquals(scale.Graph, g)) g.RemoveInitializer(scale);
                g.Rename(dense, name);
                if (hadValueInfo) g.ValueInfos.Add(dense);
                folded++;
            }
        int stamps = model.Functions.Count + model.OpsetImports.Count + model.Metadata.Count;
        TernaryDecodeOp.UnmarkIfUnused(model);
        // Dropping a stale com.ternion import or function from an input without TernaryDecode nodes is
        // a change too, and the pass must say so (the pass manager checks it with --check).
        bool unmarked = model.Functions.Count + model.OpsetImports.Count + model.Metadata.Count != stamps;
        return folded + (folded == 0 && unmarked ? 1 : 0);
    }
}
