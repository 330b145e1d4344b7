using Ternion.IR;

namespace Ternion.Passes.FlexAttention;

internal enum FlexForm { Tensor, ElementWise }

/// <summary>Which formal inputs a modifier value depends on (the score, or the batch/head/query/key index).</summary>
[Flags]
internal enum Deps
{
    None = 0, Score = 1, Batch = 2, Head = 4, Query = 8, Key = 16,
    AllIndices = Batch | Head | Query | Key,
}

/// <summary>
/// One ai.onnx.preview::FlexAttention node, read and checked: its form (recognised from the modifier
/// graphs and the element-wise-only attributes, never from a version), types, scale and modifiers.
/// Anything malformed is refused with a one-line message that names the node.
/// </summary>
internal sealed class FlexAttentionCall
{
    public const string Domain = "ai.onnx.preview";
    public const string OpType = "FlexAttention";

    public static bool Is(Node n) => n.OpType == OpType && n.DomainName == Domain;

    private FlexAttentionCall(Node node) { Node = node; }

    public Node Node { get; }
    /// <summary>How messages name the node: "FlexAttention 'attn0'", or by its output when it has no name.</summary>
    public string Who { get; private set; } = "";
    /// <summary>Name for the report and prefix for generated names.</summary>
    public string Label { get; private set; } = "";
    public FlexForm Form { get; private set; }
    public Value Q { get; private set; } = null!;
    public Value K { get; private set; } = null!;
    public Value V { get; private set; } = null!;
    public DataType T { get; private set; }
    public DataType SoftmaxPrecision { get; private set; }
    public float? Scale { get; private set; }
    public Graph? ScoreMod { get; private set; }
    public Graph? ProbMod { get; private set; }
    public Graph? MaskMod { get; private set; }
    public float MaskValue { get; private set; } = float.NegativeInfinity;
    public bool EnableGqa { get; private set; }

    public string FormName => Form == FlexForm.Tensor ? "tensor" : "element-wise";

    public TernionException Refuse(string reason) => new($"{Who}: {reason}");

    /// <param name="model">Where to find the call sites of a function whose body holds the node (its parameters carry no types).</param>
    public static FlexAttentionCall Read(Node node, Model? model = null)
    {
        var c = new FlexAttentionCall(node);
        c.ReadCore(model);
        return c;
    }

    private void ReadCore(Model? model)
    {
        var y = Node.Outputs.Count > 0 ? Node.Outputs[0] : null;
        Label = !string.IsNullOrEmpty(Node.Name) ? Node.Name : y?.Name is { Length: > 0 } yn ? yn : "flexattention";
        Who = !string.IsNullOrEmpty(Node.Name) ? $"FlexAttention '{Node.Name}'" : $"FlexAttention producing '{y?.Name}'";

        if (Node.Inputs.Count != 3 || Node.Inputs.Any(i => i is null))
            throw Refuse($"takes exactly three inputs (Q, K, V); it has {Node.Inputs.Count(i => i is not null)}");
        if (y is null || Node.Outputs.Count != 1)
            throw Refuse("must have exactly one output (Y)");
        Q = Node.Inputs[0]!; K = Node.Inputs[1]!; V = Node.Inputs[2]!;

        foreach (var (v, what) in new[] { (Q, "Q"), (K, "K"), (V, "V") })
            if (v.Type?.Shape is { } s && s.Rank != 4)
                throw Refuse($"{what} ('{v.Name}') has rank {s.Rank}; FlexAttention takes rank-4 [B, H, L|S, E] inputs");

        // T is the element type of Q, K, V and Y; any of them may be the one that carries a type.
        T = new[] { Q, K, V, y }.Select(ElementTypeInference.Infer).FirstOrDefault(t => t != DataType.Undefined);
        if (T == DataType.Undefined && model is not null)
            T = new[] { Q, K, V }.Select(v => TypeFromCallSites(model, v)).FirstOrDefault(t => t != DataType.Undefined);
        if (T == DataType.Undefined)
            throw Refuse("the element type of Q, K, V and Y is unknown; give Q a type (value_info) so the lowering knows T");
        if (!DataTypes.IsFloatingPoint(T))
            throw Refuse($"inputs are {DataTypes.ShortName(T)}; FlexAttention takes float16, bfloat16, float or double");

        var hq = StaticDim(Q, 1); var hkv = StaticDim(K, 1);
        if (hq is long a && hkv is long b && (b == 0 || a % b != 0))
            throw Refuse($"Q has {a} heads and K/V {b}; the query heads must be a multiple of the key/value heads");

        if (Node.GetAttribute("scale") is { } sc)
        {
            if (sc.RefAttrName is not null) throw Refuse($"scale refers to the function attribute '{sc.RefAttrName}', which is only known per call; give it a value");
            if (sc.Kind != AttributeKind.Float) throw Refuse($"scale is a {sc.Kind} attribute; it must be a float");
            Scale = sc.AsFloat;
        }
        SoftmaxPrecision = T == DataType.Double ? DataType.Double : DataType.Float;
        if (Node.GetAttribute("softmax_precision") is { } sp)
        {
            if (sp.RefAttrName is not null) throw Refuse($"softmax_precision refers to the function attribute '{sp.RefAttrName}'; give it a value");
            var t = (DataType)(int)sp.AsInt;
            if (sp.Kind != AttributeKind.Int || !DataTypes.IsFloatingPoint(t))
                throw Refuse($"softmax_precision {sp} is not a floating-point TensorProto data type");
            SoftmaxPrecision = t;
        }

        ScoreMod = GraphAttribute("score_mod");
        ProbMod = GraphAttribute("prob_mod");
        MaskMod = GraphAttribute("mask_mod");
        var maskValue = Node.GetAttribute("mask_value");
        var enableGqa = Node.GetAttribute("enable_gqa");
        if (maskValue is not null)
        {
            if (maskValue.Kind != AttributeKind.Float || maskValue.RefAttrName is not null) throw Refuse("mask_value must be a float given on the node");
            MaskValue = maskValue.AsFloat;
        }
        if (enableGqa is not null)
        {
            if (enableGqa.Kind != AttributeKind.Int || enableGqa.RefAttrName is not null) throw Refuse("enable_gqa must be an int given on the node");
            EnableGqa = enableGqa.AsInt != 0;
        }

        // The form: the element-wise form alone has mask_mod, mask_value and enable_gqa, and its
        // score/prob modifiers take five scalars; the tensor form's take the one [B,H,L,S] tensor.
        bool elementWise = MaskMod is not null || maskValue is not null || enableGqa is not null
            || new[] { ScoreMod, ProbMod }.Any(g => g is not null && g.Inputs.Count == 5);
        Form = elementWise ? FlexForm.ElementWise : FlexForm.Tensor;

        if (Form == FlexForm.ElementWise && !EnableGqa && hq is long x && hkv is long z && x != z)
            throw Refuse($"Q has {x} heads and K/V {z}, but enable_gqa is 0");

        CheckModifier(ScoreMod, "score_mod", "score");
        CheckModifier(ProbMod, "prob_mod", "prob");
        if (MaskMod is not null) CheckMask(MaskMod);
    }

    private Graph? GraphAttribute(string name)
    {
        var a = Node.GetAttribute(name);
        if (a is null) return null;
        if (a.Kind != AttributeKind.Graph || a.AsGraph is null) throw Refuse($"{name} is a {a.Kind} attribute; it must be a graph");
        return a.AsGraph;
    }

    private void CheckModifier(Graph? g, string name, string scoreWord)
    {
        if (g is null) return;
        if (g.Outputs.Count != 1)
            throw Refuse($"{name} has {g.Outputs.Count} outputs; a modifier returns exactly one");
        if (Form == FlexForm.Tensor)
        {
            if (g.Inputs.Count != 1)
                throw Refuse($"{name} has {g.Inputs.Count} inputs; the tensor form takes one ({scoreWord}s [B,H,L,S]) and the element-wise form five ({scoreWord}, b, h, q_idx, kv_idx)");
            CheckTensor(g.Inputs[0], name, "input", rank: 4);
            CheckTensor(g.Outputs[0], name, "output", rank: 4);
            return;
        }
        if (g.Inputs.Count != 5)
            throw Refuse($"{name} has {g.Inputs.Count} input(s), but the node is in the element-wise form, whose {name} takes five scalars ({scoreWord}, b, h, q_idx, kv_idx)");
        CheckTensor(g.Inputs[0], name, "input", rank: 0);
        for (int i = 1; i < 5; i++) CheckIndex(g.Inputs[i], name);
        CheckTensor(g.Outputs[0], name, "output", rank: 0);
    }

    private void CheckMask(Graph g)
    {
        if (g.Inputs.Count != 4)
            throw Refuse($"mask_mod has {g.Inputs.Count} input(s); it takes four scalars (b, h, q_idx, kv_idx)");
        if (g.Outputs.Count != 1)
            throw Refuse($"mask_mod has {g.Outputs.Count} outputs; it returns exactly one bool");
        foreach (var i in g.Inputs) CheckIndex(i, "mask_mod");
        var o = g.Outputs[0];
        if (o.ElemType is not (DataType.Undefined or DataType.Bool))
            throw Refuse($"mask_mod returns {DataTypes.ShortName(o.ElemType)} '{o.Name}'; it must return bool");
        if (o.Type?.Shape is { Rank: > 0 } s)
            throw Refuse($"mask_mod returns '{o.Name}' of shape {s}; an element-wise modifier returns a scalar");
    }

    private void CheckTensor(Value v, string mod, string role, int rank)
    {
        if (v.ElemType != DataType.Undefined && v.ElemType != SoftmaxPrecision)
            throw Refuse($"{mod} {role} '{v.Name}' is {DataTypes.ShortName(v.ElemType)}, but scores are in the softmax precision {DataTypes.ShortName(SoftmaxPrecision)}");
        if (v.Type?.Shape is { } s && s.Rank != rank)
            throw Refuse(rank == 0
                ? $"{mod} {role} '{v.Name}' has shape {s}; in the element-wise form it must be a scalar"
                : $"{mod} {role} '{v.Name}' has rank {s.Rank}; in the tensor form it must be the rank-4 [B,H,L,S] scores");
    }

    private void CheckIndex(Value v, string mod)
    {
        if (v.ElemType is not (DataType.Undefined or DataType.Int64 or DataType.Int32))
            throw Refuse($"{mod} input '{v.Name}' is {DataTypes.ShortName(v.ElemType)}; indices are int64 or int32");
        if (v.Type?.Shape is { Rank: > 0 } s)
            throw Refuse($"{mod} input '{v.Name}' has shape {s}; element-wise modifier inputs are scalars");
    }

    /// <summary>
    /// The element type a function parameter has at every call of the function, or Undefined when it
    /// is not a parameter or the calls disagree (the lowering emits one body for all of them).
    /// </summary>
    private static DataType TypeFromCallSites(Model model, Value v)
    {
        if (v.Graph?.Function is not { } f) return DataType.Undefined;
        int index = v.Graph.Inputs.IndexOf(v);
        if (index < 0) return DataType.Undefined;
        var types = model.AllNodes()
            .Where(n => n.OpType == f.Name && n.DomainName == ModelValidator.Normalize(f.Domain ?? "") && (n.Overload ?? "") == (f.Overload ?? ""))
            .Select(n => n.Input(index)?.ElemType ?? DataType.Undefined)
            .Distinct().ToList();
        return types.Count == 1 ? types[0] : DataType.Undefined;
    }

    public static long? StaticDim(Value v, int axis) =>
        v.Type?.Shape is { } s && axis < s.Rank && s[axis].Value is long d ? d : null;

    public static Dim DimOf(Value v, int axis) =>
        v.Type?.Shape is { } s && axis < s.Rank ? s[axis] : Dim.Unknown;
}
