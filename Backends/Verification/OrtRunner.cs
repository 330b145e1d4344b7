using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Ternion.IR;

namespace Ternion.Backends.Verification;

public sealed record OrtRunOptions
{
    /// <summary>ORT graph optimizations; ConstantFolding (on from Basic) decodes TernaryDecode of initializers at load time.</summary>
    public GraphOptimizationLevel Optimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
    /// <summary>Intra-op threads; 0 lets ONNX Runtime choose.</summary>
    public int Threads { get; init; }
    /// <summary>Values for symbolic dimensions of inputs (free dimension overrides).</summary>
    public IReadOnlyDictionary<string, long>? DimOverrides { get; init; }
    /// <summary>ORT graph transformers to turn off by name, e.g. "ConstantFolding" (keeps the other optimizations).</summary>
    public IReadOnlyList<string> DisabledOptimizers { get; init; } = [];
    /// <summary>
    /// Register Ternion's com.ternion operators (TernaryDecode, TernaryMatMul, TernaryMatMulAbsmaxInt8)
    /// in process. Needed by models of the ort-ttf1 target; a fallback model must run without it,
    /// or its TernaryDecode function body would not be what runs.
    /// </summary>
    public bool TernionCustomOps { get; init; }
    /// <summary>
    /// Session configuration entries, e.g. "session.disable_quant_qdq" = "1", which lets constant
    /// folding compute DequantizeLinear of initializers (ORT keeps them for its quantized kernels otherwise).
    /// </summary>
    public IReadOnlyDictionary<string, string>? ConfigEntries { get; init; }
}

/// <summary>Runs a model on ONNX Runtime (CPU) and returns its outputs as plain values.</summary>
public static class OrtRunner
{
    public static SessionOptions MakeSessionOptions(OrtRunOptions? o)
    {
        o ??= new OrtRunOptions();
        var so = new SessionOptions { GraphOptimizationLevel = o.Optimization, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        if (o.Threads > 0) { so.IntraOpNumThreads = o.Threads; so.InterOpNumThreads = 1; }
        if (o.DisabledOptimizers.Count > 0)
            so.AddSessionConfigEntry("optimization.disable_specified_optimizers", string.Join(";", o.DisabledOptimizers));
        if (o.DimOverrides is not null)
            foreach (var (k, v) in o.DimOverrides) so.AddFreeDimensionOverrideByName(k, v);
        if (o.ConfigEntries is not null)
            foreach (var (k, v) in o.ConfigEntries) so.AddSessionConfigEntry(k, v);
        if (o.TernionCustomOps) Ternion.Backends.OrtOps.TernionCustomOps.AddTo(so.DangerousGetHandle());
        return so;
    }

    /// <summary>Runs a model file (external data resolves next to it).</summary>
    public static List<(string Name, RunValue Value)> Run(string modelPath, IReadOnlyDictionary<string, RunValue> inputs, OrtRunOptions? options = null)
    {
        using var so = MakeSessionOptions(options);
        using var session = Create(() => new InferenceSession(modelPath, so), modelPath);
        return Run(session, inputs);
    }

    /// <summary>Runs a serialized model held in memory.</summary>
    public static List<(string Name, RunValue Value)> Run(byte[] model, IReadOnlyDictionary<string, RunValue> inputs, OrtRunOptions? options = null)
    {
        using var so = MakeSessionOptions(options);
        using var session = Create(() => new InferenceSession(model, so), "<model>");
        return Run(session, inputs);
    }

    private static InferenceSession Create(Func<InferenceSession> make, string what)
    {
        try { return make(); }
        catch (OnnxRuntimeException e) { throw new TernionException($"{what}: ONNX Runtime cannot load it: {FirstLine(e.Message)}"); }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    public static List<(string Name, RunValue Value)> Run(InferenceSession session, IReadOnlyDictionary<string, RunValue> inputs)
    {
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var (name, v) in inputs)
            {
                names.Add(name);
                values.Add(ToOrt(v));
            }
            using var ro = new RunOptions();
            IDisposableReadOnlyCollection<OrtValue> results;
            try { results = session.Run(ro, names, values, session.OutputNames); }
            catch (OnnxRuntimeException e) { throw new TernionException($"ONNX Runtime failed to run the model: {FirstLine(e.Message)}"); }
            using (results)
            {
                var list = new List<(string, RunValue)>();
                for (int i = 0; i < results.Count; i++) list.Add((session.OutputNames[i], FromOrt(results.ElementAt(i))));
                return list;
            }
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public static OrtValue ToOrt(RunValue v)
    {
        switch (v.Kind)
        {
            case RunValueKind.Tensor when v.ElemType == DataType.String:
            {
                var t = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, v.Dims);
                for (int i = 0; i < v.Strings!.Length; i++) t.StringTensorSetElementAt(v.Strings[i].AsSpan(), i);
                return t;
            }
            case RunValueKind.Tensor:
            {
                var t = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)(int)v.ElemType, v.Dims);
                v.Bytes.AsSpan().CopyTo(t.GetTensorMutableRawData());
                return t;
            }
            case RunValueKind.Sequence:
                return OrtValue.CreateSequence(v.Elements.Select(ToOrt).ToList());
            case RunValueKind.Map:
            {
                var k = ToOrt(v.Elements[0]);
                var val = ToOrt(v.Elements[1].Kind == RunValueKind.Sequence ? Concat(v.Elements[1]) : v.Elements[1]);
                return OrtValue.CreateMap(ref k, ref val);
            }
            default:
                throw new TernionException("ONNX Runtime's C# API cannot feed optional-typed inputs");
        }
    }

    private static RunValue Concat(RunValue seq)
    {
        var first = seq.Elements[0];
        return new RunValue
        {
            ElemType = first.ElemType,
            Dims = [seq.Elements.Sum(e => e.ElementCount)],
            Bytes = seq.Elements.SelectMany(e => e.Bytes).ToArray(),
            Strings = first.Strings is null ? null : seq.Elements.SelectMany(e => e.Strings!).ToArray(),
        };
    }

    public static RunValue FromOrt(OrtValue v)
    {
        switch (v.OnnxType)
        {
            case OnnxValueType.ONNX_TYPE_TENSOR:
            {
                var info = v.GetTensorTypeAndShape();
                var type = (DataType)(int)info.ElementDataType;
                if (type == DataType.String)
                    return new RunValue { ElemType = type, Dims = info.Shape, Strings = v.GetStringTensorAsArray() };
                return new RunValue { ElemType = type, Dims = info.Shape, Bytes = v.GetTensorMutableRawData().ToArray() };
            }
            case OnnxValueType.ONNX_TYPE_SEQUENCE:
            {
                int n = v.GetValueCount();
                var els = new List<RunValue>();
                for (int i = 0; i < n; i++)
                {
                    using var e = v.GetValue(i, OrtAllocator.DefaultInstance);
                    els.Add(FromOrt(e));
                }
                return new RunValue { Kind = RunValueKind.Sequence, Elements = els };
            }
            case OnnxValueType.ONNX_TYPE_MAP:
            {
                using var k = v.GetValue(0, OrtAllocator.DefaultInstance);
                using var val = v.GetValue(1, OrtAllocator.DefaultInstance);
                return new RunValue { Kind = RunValueKind.Map, Elements = [FromOrt(k), FromOrt(val)] };
            }
            case OnnxValueType.ONNX_TYPE_OPTIONAL:
                return new RunValue { Kind = RunValueKind.Optional };
            default:
                throw new TernionException($"ONNX Runtime returned a value of kind {v.OnnxType}, which cannot be compared");
        }
    }
}
