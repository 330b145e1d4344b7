using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Ternion.IR;

namespace Ternion.Passes;

/// <summary>
/// A step of the pipeline. An in-place pass changes the model it is given and returns it; a
/// functional pass returns a new model and leaves its input untouched. Either way it says whether
/// it changed anything.
/// </summary>
public interface IPass
{
    /// <summary>Stable name used in logs, dumps (03-PackTernaryWeights/) and pipeline edits.</summary>
    string Name { get; }
    bool InPlace { get; }
    PassResult Run(Model model, PassContext context);
}

/// <param name="Model">The model after the pass (the same object for in-place passes).</param>
/// <param name="Modified">Whether the pass changed anything.</param>
/// <param name="Changes">How many rewrites it made (nodes replaced, weights packed ...), for the log.</param>
public sealed record PassResult(Model Model, bool Modified, int Changes = 0)
{
    public static PassResult Unchanged(Model m) => new(m, false, 0);
}

/// <summary>Base for in-place passes: implement <see cref="Apply"/> and return the number of changes.</summary>
public abstract class InPlacePass : IPass
{
    public virtual string Name => GetType().Name;
    public bool InPlace => true;

    public PassResult Run(Model model, PassContext context)
    {
        int changes = Apply(model, context);
        return new PassResult(model, changes > 0, changes);
    }

    protected abstract int Apply(Model model, PassContext context);
}

/// <summary>
/// Base for functional passes: implement <see cref="Transform"/> to build and return a new model.
/// The input must come out untouched — the caller may still hold it (to compare, to retry another
/// target) — and this base checks that on every run with a structural fingerprint taken before and
/// after (<see cref="ModelFingerprint"/>; no tensor bytes are read). A pass that finds nothing to do
/// may return its input with Modified = false instead of a copy.
/// </summary>
public abstract class FunctionalPass : IPass
{
    public virtual string Name => GetType().Name;
    public bool InPlace => false;

    public PassResult Run(Model model, PassContext context)
    {
        ulong before = ModelFingerprint.Of(model);
        var result = Transform(model, context);
        if (ModelFingerprint.Of(model) != before)
            throw new PassContractException(Name, "is functional but changed the model it was given; build a new model, or derive from InPlacePass");
        if (result.Modified && ReferenceEquals(result.Model, model))
            throw new PassContractException(Name, "is functional and reports a change, but returned the model it was given");
        return result;
    }

    protected abstract PassResult Transform(Model model, PassContext context);
}

/// <summary>What a pass may read about the compilation: options, target capabilities, logging, and the report it adds to.</summary>
public sealed class PassContext
{
    public PassContext(CompileOptions? options = null, ILogger? logger = null, CompileReport? report = null)
    {
        Options = options ?? new CompileOptions();
        Logger = logger ?? NullLogger.Instance;
        Report = report ?? new CompileReport();
    }

    public CompileOptions Options { get; }
    public ILogger Logger { get; }
    public CompileReport Report { get; }
    public CancellationToken Cancellation { get; init; }

    /// <summary>
    /// Computes constant subgraphs (weights quantized or unpacked inside the graph). The native
    /// evaluator handles exactly-defined operators; the compiler adds ONNX Runtime for the rest.
    /// </summary>
    public Constants.IConstantEvaluator ConstantEvaluator { get; init; } = new Constants.NativeConstantEvaluator();

    /// <summary>Where tensors computed by passes wait until the model is written (created on first use).</summary>
    public Ternary.SpillStore Spill => LazyInitializer.EnsureInitialized(ref _spill, () => new Ternary.SpillStore());
    private Ternary.SpillStore? _spill;

    /// <summary>Deletes the spill file; call once the model has been written.</summary>
    public void ReleaseSpill() { _spill?.Dispose(); _spill = null; }

    private readonly Dictionary<Type, object> _state = new();

    /// <summary>Typed state one pass leaves for a later one (e.g. the weights detection found, for packing).</summary>
    public T State<T>() where T : class, new()
    {
        if (!_state.TryGetValue(typeof(T), out var o)) _state[typeof(T)] = o = new T();
        return (T)o;
    }
}

/// <summary>Options of one compilation, as a pass sees them.</summary>
public sealed record CompileOptions
{
    /// <summary>TTF1 block size, 320 or 640 trits.</summary>
    public int BlockSize { get; init; } = 320;
    /// <summary>Tensors with fewer elements stay dense.</summary>
    public long MinElements { get; init; } = 1024;
    /// <summary>Keep the standard-op fallback body of TernaryDecode in the model.</summary>
    public bool FallbackBody { get; init; } = true;
    /// <summary>What the target runs natively; passes consult it (e.g. to keep tensor-form FlexAttention).</summary>
    public TargetCapabilities Capabilities { get; init; } = TargetCapabilities.Portable;
    /// <summary>Threads for data-parallel work (packing); 0 = all cores.</summary>
    public int Threads { get; init; }
    /// <summary>
    /// Lower a FlexAttention that is exactly causal attention to ONNX's Attention op (is_causal=1)
    /// when the graph already imports opset 23 or later, instead of MatMul/Softmax ops.
    /// </summary>
    public bool AttentionOp { get; init; } = true;
    /// <summary>
    /// Recognise exporters' exact weight layouts (HF BitNet's packed uint8 unpacking) and transcode
    /// them straight to TTF1 instead of evaluating their subgraphs; the bytes are the same either way.
    /// </summary>
    public bool DirectTranscode { get; init; } = true;
}

/// <summary>What a target (runtime or hardware) runs natively, and how it likes its data.</summary>
public sealed record TargetCapabilities
{
    /// <summary>Runs com.ternion::TernaryDecode itself (e.g. a decompression engine).</summary>
    public bool NativeTernaryDecode { get; init; }
    /// <summary>Runs ai.onnx.preview::FlexAttention (tensor form) itself.</summary>
    public bool NativeFlexAttention { get; init; }
    /// <summary>Highest default-domain opset it runs.</summary>
    /// <remarks>
    /// 26 is what ONNX Runtime 1.31 runs. 1.32 (the version the tests verify on) runs opset 28 and
    /// reads IR 14, but models compiled for "any ONNX runtime" keep the older floor: no pass needs
    /// more than opset 23, and raising an opset never helps a model load elsewhere.
    /// </remarks>
    public int MaxOpset { get; init; } = 26;
    /// <summary>Highest IR version it reads (ONNX Runtime 1.31: 13; 1.32: 14).</summary>
    public int MaxIrVersion { get; init; } = 13;
    /// <summary>Block size it prefers (320 or 640).</summary>
    public int PreferredBlockSize { get; init; } = 320;
    /// <summary>Alignment of tensors in external data.</summary>
    public int Alignment { get; init; } = 4096;
    /// <summary>What a runtime session must load to run the output, beyond the runtime itself (null: nothing).</summary>
    public string? SessionRequirement { get; init; }

    /// <summary>A stock runtime: standard ONNX only, at ONNX Runtime 1.31's limits (opset 26, IR 13).</summary>
    public static TargetCapabilities Portable { get; } = new();
}
