using System.Security.Cryptography;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Ternion.IR;
using Tensor = Ternion.IR.Tensor;
using Ternion.IR.Serialization;
using Ternion.Passes.Constants;

namespace Ternion.Backends.Evaluation;

/// <summary>
/// Evaluates a constant cone with ONNX Runtime itself, so a weight computed in the graph (a master
/// weight quantized with ReduceMean, say, whose bits depend on ORT's order of additions) comes out
/// bit for bit as ORT computes it from the original model. When ORT loads the original it folds such a
/// cone at session creation: graph rewrites of its basic level first (e.g. Div(1, x) followed by Mul
/// becomes one Div), then each node's CPU kernel on one thread. The cone is therefore run as its own
/// small model with the basic level and one thread; its small constants stay constants (so the same
/// rewrites apply) and its large stored tensors are fed as inputs straight from their mapped bytes.
/// Models of the same structure (every layer's q_proj, say) share one session: names are canonical.
/// </summary>
public sealed class OrtConstantEvaluator : IConstantEvaluator, IDisposable
{
    /// <summary>Stored tensors up to this many elements are constants of the cone model, larger ones inputs.</summary>
    public const long EmbedElements = 64;
    private const int CachedSessions = 16;

    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private long _clock;
    private bool _disposed;

    private sealed class Entry(InferenceSession session)
    {
        public InferenceSession Session { get; } = session;
        public int InUse;
        public long LastUsed;
    }

    public string Name => "onnxruntime";

    /// <summary>Hand ORT subgraphs with Expand, Tile, ConstantOfShape ... too (for trusted models, and tests).</summary>
    public bool AllowDataSizedOutputs { get; init; }

    /// <summary>ORT optimization level the cone runs at: basic, the rewrites ORT applies before it folds constants.</summary>
    public GraphOptimizationLevel Optimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_BASIC;

    /// <summary>
    /// Operators whose output size comes from the data, not from their inputs' sizes: in a hostile
    /// model they ask for terabytes. The native evaluator computes them with a 2 GiB cap per value;
    /// ONNX Runtime is not handed them.
    /// </summary>
    private static readonly HashSet<string> Growing = ["Expand", "Tile", "ConstantOfShape", "Range", "Resize", "Pad", "Upsample", "OneHot", "EyeLike"];

    public IReadOnlyList<ConstTensor>? Evaluate(ConstantCone cone, IReadOnlyList<Value> wanted, Model model, out string? whyNot)
    {
        if (!AllowDataSizedOutputs && cone.Nodes.FirstOrDefault(n => Growing.Contains(n.OpType)) is { } grows)
        {
            whyNot = $"{grows.Describe()} makes an output as large as its data says, which ONNX Runtime would allocate unchecked";
            return null;
        }
        CheckIntegerDivisors(cone);
        byte[] bytes;
        List<Value> feeds;
        try { (bytes, feeds) = ConeModel(cone, wanted, model); }
        catch (TernionException e) { whyNot = e.Message; return null; }
        string key = Convert.ToHexString(SHA256.HashData(bytes));
        Entry entry;
        try { entry = Acquire(key, bytes); }
        catch (OnnxRuntimeException e) { whyNot = $"ONNX Runtime cannot load it: {FirstLine(e.Message)}"; return null; }
        try
        {
            whyNot = null;
            return Run(entry.Session, feeds, wanted.Count);
        }
        catch (OnnxRuntimeException e) { whyNot = $"ONNX Runtime cannot run it: {FirstLine(e.Message)}"; return null; }
        finally { Release(entry); }
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>
    /// An integer division by zero traps inside ONNX Runtime and ends the process: a cone whose
    /// integer divisor is zero, or cannot be read before running, is not handed over.
    /// </summary>
    private static void CheckIntegerDivisors(ConstantCone cone)
    {
        foreach (var n in cone.Nodes)
        {
            if (n.OpType is not ("Div" or "Mod") || n.Input(1) is not { } d) continue;
            var type = ElementTypeInference.Infer(d);
            if (DataTypes.IsFloatingPoint(type)) continue;
            var t = d.Initializer ?? (d.Producer is { OpType: "Constant" } c ? c.GetAttribute("value")?.AsTensor : null);
            if (t is null || t.DataType is not (DataType.Int8 or DataType.UInt8 or DataType.Int16 or DataType.UInt16 or DataType.Int32 or DataType.UInt32 or DataType.Int64 or DataType.UInt64))
                throw new ConstantEvaluationException($"{n.Describe()}: an integer divisor computed in the graph cannot be checked for zero before ONNX Runtime runs it", undefined: true);
            using var b = t.Data.Open();
            int width = DataTypes.BitWidth(t.DataType) / 8;
            var span = b.Span;
            for (int i = 0; i + width <= span.Length; i += width)
                if (span.Slice(i, width).IndexOfAnyExcept((byte)0) < 0)
                    throw new ConstantEvaluationException($"{n.Describe()}: integer division by zero", undefined: true);
        }
    }

    /// <summary>Types ORT's C# API cannot hand over as inputs: such tensors stay constants of the cone model.</summary>
    private static bool Feedable(Tensor t) => t.ElementCount > EmbedElements && t.DataType is DataType.Float or DataType.Double or DataType.Float16
        or DataType.BFloat16 or DataType.Int8 or DataType.UInt8 or DataType.Int16 or DataType.UInt16 or DataType.Int32 or DataType.UInt32
        or DataType.Int64 or DataType.UInt64 or DataType.Bool;

    /// <summary>The cone as a model of its own, with canonical names so equal structures give equal bytes.</summary>
    private static (byte[] Bytes, List<Value> Feeds) ConeModel(ConstantCone cone, IReadOnlyList<Value> wanted, Model model)
    {
        var g = new Graph { Name = "cone" };
        var m = new Model(g) { IrVersion = model.IrVersion ?? 8 };
        m.OpsetImports.AddRange(model.OpsetImports);
        var map = new Dictionary<Value, Value>();
        var feeds = new List<Value>();
        int constants = 0;
        foreach (var leaf in cone.Leaves)
        {
            var t = leaf.Initializer!;
            if (Feedable(t))
            {
                map[leaf] = g.AddInput($"in{feeds.Count}", IrType.Tensor(t.DataType, t.Dims));
                feeds.Add(leaf);
            }
            else map[leaf] = g.AddInitializer(new Tensor(null, t.DataType, t.Dims, t.Data), $"c{constants++}");
        }
        int next = 0;
        foreach (var n in cone.Nodes)
        {
            var inputs = n.Inputs.Select(v => v is null ? null : map[v]).ToList();
            var outputs = n.Outputs.Select(o => o is null ? null : new Value($"t{next++}")).ToList();
            var copy = new Node(n.Domain, n.OpType, inputs, outputs, n.Attributes);
            g.Append(copy);
            for (int i = 0; i < n.Outputs.Count; i++)
                if (n.Outputs[i] is { } o) map[o] = outputs[i]!;
        }
        foreach (var w in wanted)
        {
            var v = map[w];
            v.Type = w.Type is { Kind: TypeKind.Tensor } t ? IrType.Tensor(t.ElemType, (Shape?)null) : null;
            g.Outputs.Add(v);
        }
        // Values something outside the cone also reads are outputs too (computed, not fetched): ORT's
        // rewrites look at a value's readers (Div(1, x) -> Mul becomes one Div only when nothing else
        // reads the Div), so the cone must show that those values are read elsewhere.
        foreach (var e in cone.Escaping)
            if (!wanted.Contains(e) && map.TryGetValue(e, out var v) && !g.Outputs.Contains(v)) g.Outputs.Add(v);
        return (ModelSerializer.ToBytes(m), feeds);
    }

    private Entry Acquire(string key, byte[] bytes)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_sessions.TryGetValue(key, out var hit)) { hit.InUse++; hit.LastUsed = ++_clock; return hit; }
        }
        // Created outside the lock: the other worker goes on meanwhile.
        using var so = new SessionOptions
        {
            GraphOptimizationLevel = Optimization,
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            EnableCpuMemArena = false,
            EnableMemoryPattern = false,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
        };
        var session = new InferenceSession(bytes, so);
        lock (_gate)
        {
            if (_disposed) { session.Dispose(); throw new ObjectDisposedException(nameof(OrtConstantEvaluator)); }
            if (_sessions.TryGetValue(key, out var raced)) { session.Dispose(); raced.InUse++; raced.LastUsed = ++_clock; return raced; }
            var entry = new Entry(session) { InUse = 1, LastUsed = ++_clock };
            _sessions[key] = entry;
            return entry;
        }
    }

    private void Release(Entry entry)
    {
        lock (_gate)
        {
            entry.InUse--;
            while (_sessions.Count > CachedSessions)
            {
                var idle = _sessions.Where(kv => kv.Value.InUse == 0).OrderBy(kv => kv.Value.LastUsed).FirstOrDefault();
                if (idle.Value is null) break;
                _sessions.Remove(idle.Key);
                idle.Value.Session.Dispose();
            }
        }
    }

    private static unsafe List<ConstTensor> Run(InferenceSession session, List<Value> feeds, int wantedCount)
    {
        var opened = new List<TensorBytes>();
        var pins = new List<System.Buffers.MemoryHandle>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var leaf in feeds)
            {
                var t = leaf.Initializer!;
                var b = t.Data.Open();
                opened.Add(b);
                var pin = b.Memory.Pin();
                pins.Add(pin);
                values.Add(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)(int)t.DataType, t.Dims, (IntPtr)pin.Pointer, b.Length));
            }
            using var ro = new RunOptions();
            var names = Enumerable.Range(0, feeds.Count).Select(i => $"in{i}").ToList();
            // Only the wanted values (the first outputs); the others are outputs to keep ORT's rewrites honest.
            using var results = session.Run(ro, names, values, session.OutputNames.Take(wantedCount).ToList());
            var list = new List<ConstTensor>();
            try
            {
                foreach (var r in results)
                {
                    var info = r.GetTensorTypeAndShape();
                    var type = (DataType)(int)info.ElementDataType;
                    var t = ConstTensor.Allocate(type, info.Shape);
                    list.Add(t);
                    r.GetTensorDataAsSpan<byte>().CopyTo(t.Writable);
                }
            }
            catch
            {
                foreach (var t in list) t.Dispose();
                throw;
            }
            return list;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
            foreach (var p in pins) p.Dispose();
            foreach (var b in opened) b.Dispose();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var e in _sessions.Values) e.Session.Dispose();
            _sessions.Clear();
        }
    }
}
