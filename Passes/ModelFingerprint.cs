using System.Runtime.CompilerServices;
using Ternion.IR;

namespace Ternion.Passes;

/// <summary>
/// A 64-bit digest of a model's structure, for checking pass contracts (a functional pass must not
/// touch its input; an in-place pass that reports no change must not have made one). It covers what
/// a pass can change through the IR's public API — opset imports, metadata, functions, graph inputs,
/// outputs, initializers, value_info, node order, ops, attributes, wiring and names — but reads no
/// tensor bytes: a tensor counts by its name, type, dims and the identity of its data object, so the
/// digest of a multi-gigabyte model costs one walk over its nodes. Only comparable within one
/// process (object identities are not stable across runs); never write it anywhere.
/// </summary>
public static class ModelFingerprint
{
    public static ulong Of(Model model)
    {
        var h = new Hasher();
        h.Add(model.IrVersion ?? -1);
        h.Add(model.ProducerName); h.Add(model.ProducerVersion); h.Add(model.Domain); h.Add(model.ModelVersion ?? -1); h.Add(model.DocString);
        h.Add(model.OpsetImports.Count);
        foreach (var o in model.OpsetImports) { h.Add(o.Domain); h.Add(o.Version ?? -1); }
        Metadata(ref h, model.Metadata);
        Graph(ref h, model.Graph);
        h.Add(model.Functions.Count);
        foreach (var f in model.Functions)
        {
            h.Add(f.Domain); h.Add(f.Name); h.Add(f.Overload); h.Add(f.DocString);
            h.Add(f.AttributeNames.Count);
            foreach (var a in f.AttributeNames) h.Add(a);
            h.Add(f.AttributeDefaults.Count);
            foreach (var a in f.AttributeDefaults) Attribute(ref h, a);
            h.Add(f.OpsetImports.Count);
            foreach (var o in f.OpsetImports) { h.Add(o.Domain); h.Add(o.Version ?? -1); }
            Metadata(ref h, f.Metadata);
            Graph(ref h, f.Body);
        }
        return h.Value;
    }

    private static void Graph(ref Hasher h, Graph g)
    {
        h.Add(g.Name); h.Add(g.DocString);
        Metadata(ref h, g.Metadata);
        Values(ref h, g.Inputs);
        Values(ref h, g.Outputs);
        Values(ref h, g.Initializers);
        Values(ref h, g.ValueInfos);
        Values(ref h, g.SparseInitializers);
        h.Add(g.Nodes.Count);
        foreach (var n in g.Nodes)
        {
            h.Add(n.Domain); h.Add(n.OpType); h.Add(n.Name); h.Add(n.Overload); h.Add(n.DocString);
            Metadata(ref h, n.Metadata);
            h.Add(n.Inputs.Count);
            // Identity, not only the name: rewiring to another value of the same name is a change.
            foreach (var v in n.Inputs) { h.Add(v?.Name); h.Add(v is null ? 0 : RuntimeHelpers.GetHashCode(v)); }
            Values(ref h, n.Outputs);
            h.Add(n.Attributes.Count);
            foreach (var a in n.Attributes) Attribute(ref h, a);
        }
    }

    private static void Values(ref Hasher h, IReadOnlyList<Value?> values)
    {
        h.Add(values.Count);
        foreach (var v in values)
        {
            if (v is null) { h.Add(0); continue; }
            h.Add(RuntimeHelpers.GetHashCode(v));
            h.Add(v.Name); h.Add(v.DocString); h.Add(v.Type?.GetHashCode() ?? 0);
            h.Add(v.Uses.Count);
            Metadata(ref h, v.Metadata);
            if (v.Initializer is { } t) Tensor(ref h, t);
        }
    }

    private static void Tensor(ref Hasher h, Tensor t)
    {
        h.Add(t.Name); h.Add(t.RawDataType ?? -1); h.Add(t.DocString);
        h.Add(t.Dims.Length);
        foreach (var d in t.Dims) h.Add(d);
        // The data object stands for the bytes: a pass replaces it rather than writing into it.
        h.Add(RuntimeHelpers.GetHashCode(t.Data));
        Metadata(ref h, t.Metadata);
    }

    private static void Attribute(ref Hasher h, Attribute a)
    {
        h.Add(a.Name); h.Add((int)a.Kind); h.Add(a.RefAttrName); h.Add(a.DocString);
        switch (a.Kind)
        {
            case AttributeKind.Float: h.Add(BitConverter.SingleToInt32Bits(a.AsFloat)); break;
            case AttributeKind.Int: h.Add(a.AsInt); break;
            case AttributeKind.String: h.Add(a.AsString); break;
            case AttributeKind.Floats: foreach (var f in a.AsFloats) h.Add(BitConverter.SingleToInt32Bits(f)); break;
            case AttributeKind.Ints: foreach (var i in a.AsInts) h.Add(i); break;
            case AttributeKind.Strings: foreach (var s in a.AsStrings) h.Add(s); break;
            case AttributeKind.TypeProto: h.Add(a.AsTypeProto?.GetHashCode() ?? 0); break;
        }
        if (a.AsTensor is { } t) Tensor(ref h, t);
        foreach (var x in a.Tensors) Tensor(ref h, x);
        foreach (var g in a.Graphs) Graph(ref h, g);
    }

    private static void Metadata(ref Hasher h, IReadOnlyList<MetadataEntry> entries)
    {
        h.Add(entries.Count);
        foreach (var e in entries) { h.Add(e.Key); h.Add(e.Value); }
    }

    /// <summary>FNV-1a over 64-bit words: simple, allocation-free and good enough to tell "same" from "changed".</summary>
    private struct Hasher
    {
        private ulong _h;
        public Hasher() { _h = 14695981039346656037UL; }
        public readonly ulong Value => _h;

        public void Add(long v)
        {
            _h ^= (ulong)v;
            _h *= 1099511628211UL;
            _h ^= _h >> 29;
        }

        public void Add(string? s)
        {
            if (s is null) { Add(-1L); return; }
            Add(s.Length);
            foreach (char c in s) Add((long)c);
        }
    }
}
