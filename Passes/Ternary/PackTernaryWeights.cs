using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Replaces each detected weight by a uint8 TTF1 initializer, a scale initializer and a
/// com.ternion::TernaryDecode node producing the same tensor (under the weight's own name), so the
/// model means exactly what it meant. An initializer is packed when its bytes are first read —
/// normally while the model is written — so a large model streams tensor by tensor; a weight that a
/// subgraph computed was packed by the detector already. What computed it (the subgraph, the master
/// weight, a MatMulNBits) goes when nothing else reads it; values something else reads stay.
/// </summary>
public sealed class PackTernaryWeights : IPass
{
    public string Name => "PackTernaryWeights";
    public bool InPlace => true;

    public PassResult Run(Model model, PassContext context)
    {
        var found = context.State<TernaryDetections>().Weights;
        int bs = context.Options.BlockSize;
        var retired = new List<Node>();
        var leaves = new List<Value>();
        var renames = new List<(Graph Graph, Value Decoded, string Name)>();
        foreach (var w in found)
        {
            var layout = new TernaryLayout(w.Shape, w.Axis, bs);
            var g = w.Graph;
            string name = w.Name;
            var source = w.Source.Initializer!;
            int threads = context.Options.Threads;
            TensorData packedData = w.Packed ?? new DeferredTensorData(layout.PackedBytes, packedBytes =>
            {
                using var dense = source.Data.Open();
                TernaryData.Pack(dense.Span, w.Type, layout, w.ScaleBits, name, threads, packedBytes);
            });
            string stem = w.Cone is not null || w.NBitsNode is not null ? w.Source.Name : name;
            var packed = g.AddInitializer(new Tensor(null, DataType.UInt8, [layout.M, layout.RowBytes], packedData), $"{stem}.ttf1");
            var scale = g.AddInitializer(new Tensor(null, w.Type, w.PerTensor ? [] : [layout.M],
                new MemoryTensorData(TernaryData.ScaleBytes(w.Type, w.ScaleBits))), $"{stem}.scale");
            // A MatMulNBits' weight had no value of its own: the decoded one is named after its blob.
            var decode = TernaryDecodeOp.Create(packed, scale, w.Shape, w.Axis, bs, w.Type,
                w.NBitsNode is null ? "" : g.Names.Fresh($"{name}.dequantized"));

            // The MatMulNBits' stored inputs, read before the node goes (removing it clears its inputs).
            var nbitsLeaves = w.NBitsNode?.Inputs.OfType<Value>().Where(v => v.IsInitializer).ToList();
            if (w.NBitsNode is { } nbits) ReplaceMatMulNBits(g, nbits, decode);
            else if (Replace(g, w, decode) is { } pending) renames.Add((g, decode.Output(), pending));

            if (w.Cone is { } cone)
            {
                foreach (var (value, constant) in w.Materialize)
                {
                    if (value.Graph is null || !value.IsUsed) continue;
                    var c = g.AddInitializer(constant, $"{value.Name}.folded");
                    value.ReplaceAllUsesWith(c);
                }
                retired.AddRange(cone.Nodes);
                leaves.AddRange(cone.Leaves);
            }
            else if (nbitsLeaves is not null) leaves.AddRange(nbitsLeaves);
            else leaves.Add(w.Source);

            context.Report.TernaryWeights.Add(new TernaryWeightEntry
            {
                Name = name, Shape = w.Shape, DType = DataTypes.ShortName(w.Type), Axis = w.Axis,
                ScaleKind = w.PerTensor ? "per-tensor" : "per-channel", PackedBytes = layout.PackedBytes,
                OriginalBytes = w.OriginalBytes, Source = w.SourceKind, SourceOps = w.SourceOps.ToList(),
                SourceTensor = w.Source.Name == name ? null : w.Source.Name,
            });
            context.Logger.LogDebug("packed '{Name}' ({Source}): {Before:N0} -> {After:N0} bytes", name, w.SourceKind, w.OriginalBytes, layout.PackedBytes);
        }
        int removed = RemoveDead(retired, leaves);
        if (removed > 0) context.Logger.LogDebug("PackTernaryWeights: {Removed} node(s) and initializer(s) that computed packed weights removed", removed);
        // A computed weight's name is free once its producer is gone; a producer still needed keeps it.
        foreach (var (g, decoded, name) in renames)
            if (!g.Names.IsUsed(name)) g.Rename(decoded, name);
        if (found.Count > 0) TernaryDecodeOp.MarkModel(model);
        return new PassResult(model, found.Count > 0, found.Count);
    }

    /// <summary>
    /// Points every reader of the weight at the decoded value, which takes the weight's name: at once
    /// for an initializer, and for a computed weight once its producer is gone (the name returned).
    /// </summary>
    private static string? Replace(Graph g, TernaryWeight w, Node decode)
    {
        var target = w.Target!;
        string name = target.Name;
        var first = FirstConsumer(g, target) ?? throw new InvalidOperationException($"weight '{name}' has no consumer in its graph");
        g.InsertBefore(first, decode);
        var decoded = decode.Output();
        bool hadValueInfo = g.ValueInfos.Contains(target);
        target.ReplaceAllUsesWith(decoded);
        if (hadValueInfo) g.ValueInfos.Add(decoded);
        if (!target.IsInitializer) return name;
        g.RemoveInitializer(target);
        g.Rename(decoded, name);
        return null;
    }

    /// <summary>MatMulNBits(A, B, scales, ...) becomes MatMul(A, TernaryDecode(...)) and an Add of the bias if it has one.</summary>
    private static void ReplaceMatMulNBits(Graph g, Node nbits, Node decode)
    {
        g.InsertBefore(nbits, decode);

        var output = nbits.Output();
        string name = output.Name;
        var mm = g.InsertBefore(nbits, new Node("", "MatMul", [nbits.Input(0), decode.Output()], [new Value("", output.Type)], name: nbits.Name));
        var result = mm.Output();
        if (nbits.Input(5) is { } bias)
        {
            var add = g.InsertBefore(nbits, new Node("", "Add", [result, bias], [new Value("", output.Type)]));
            result = add.Output();
        }
        bool hadValueInfo = g.ValueInfos.Contains(output);
        output.ReplaceAllUsesWith(result, replaceGraphOutputs: true);
        g.Remove(nbits);
        g.Rename(result, name);
        if (hadValueInfo) g.ValueInfos.Add(result);
    }

    /// <summary>
    /// Removes the nodes that computed packed weights once nothing reads them (last first, so a chain
    /// goes whole), then the initializers they read if nothing else does. Shared parts stay.
    /// </summary>
    private static int RemoveDead(List<Node> nodes, List<Value> leaves)
    {
        int removed = 0;
        // Repeat until stable: two cones sharing nodes may free each other's nodes in any order.
        for (bool again = true; again;)
        {
            again = false;
            for (int i = nodes.Count - 1; i >= 0; i--)
            {
                var n = nodes[i];
                if (n.Graph is not { } g || n.Outputs.Any(o => o is not null && o.IsUsed)) continue;
                g.Remove(n);
                removed++;
                again = true;
            }
        }
        foreach (var v in leaves.Distinct())
            if (v.IsInitializer && !v.IsUsed && !v.IsGraphInput && v.Graph is { } lg) { lg.RemoveInitializer(v); removed++; }
        return removed;
    }

    /// <summary>The earliest node of <paramref name="g"/> that reads the value, directly or from a subgraph.</summary>
    internal static Node? FirstConsumer(Graph g, Value v)
    {
        var owners = v.Uses.Select(u => ModelValidator.OwnerIn(g, u.Node)).Where(n => n is not null).ToHashSet();
        return g.Nodes.FirstOrDefault(owners.Contains);
    }
}
