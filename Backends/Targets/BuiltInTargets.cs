using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;
using Ternion.Passes.Ternary;

namespace Ternion.Backends.Targets;

/// <summary>
/// Hardware with a decompression engine: TernaryDecode stays next to its consumers, packed weights go
/// to external data aligned to 64 bytes, and the standard-op body stays unless --no-fallback-body.
/// </summary>
public sealed class NativeTarget : ITarget, IConfiguresPipeline, IEmitsModel
{
    public string Name => "native";
    public string Description => "Hardware that decodes TTF1 itself: keeps TernaryDecode nodes, packed weights in 64-byte aligned external data";
    public TargetCapabilities Capabilities { get; } = new() { NativeTernaryDecode = true, Alignment = 64 };

    public void Configure(Pipeline pipeline, TargetOptions options)
    {
        if (options.FallbackBody) pipeline.Add(new AddTernaryDecodeFunction());
        else pipeline.Add(new RemoveTernaryDecodeFunction());
    }

    public SaveResult Emit(Model model, string outputPath, TargetOptions options)
    {
        // Packed weights (input 0 of a TernaryDecode) always go to the data file, where the engine maps them.
        var packed = model.AllNodes().Where(TernaryDecodeOp.Is).Select(n => n.Input(0)?.Initializer)
            .OfType<Tensor>().ToHashSet(ReferenceEqualityComparer.Instance);
        return ModelSerializer.Save(model, outputPath, new SaveOptions
        {
            ExternalData = options.ExternalData == ExternalDataMode.Never ? ExternalDataMode.Auto : options.ExternalData,
            Alignment = options.Alignment ?? Capabilities.Alignment,
            ForceExternal = t => packed.Contains(t),
            Progress = options.Progress,
            DataFileName = options.DataFileName,
        });
    }
}

/// <summary>The default: stock ONNX Runtime runs TernaryDecode through its model-local function body.</summary>
public sealed class FallbackTarget : ITarget, IConfiguresPipeline
{
    public string Name => "fallback";
    public string Description => "Any ONNX runtime: TernaryDecode kept with a standard-op function body (ONNX Runtime folds it at load unless constant folding is off)";
    public TargetCapabilities Capabilities { get; } = TargetCapabilities.Portable;
    public void Configure(Pipeline pipeline, TargetOptions options) => pipeline.Add(new AddTernaryDecodeFunction());
}

/// <summary>Decode at compile time: plain standard ONNX with the original weights.</summary>
public sealed class FoldedTarget : ITarget, IConfiguresPipeline
{
    public string Name => "folded";
    public string Description => "Runtimes without custom ops: weights decoded at compile time, bit-identical to the original; plain ONNX";
    public TargetCapabilities Capabilities { get; } = TargetCapabilities.Portable;
    public void Configure(Pipeline pipeline, TargetOptions options) => pipeline.Add(new FoldTernaryDecode());
}

/// <summary>
/// ONNX Runtime's native 2-bit kernels: ternary MatMul weights become com.microsoft::MatMulNBits
/// (bits=2) with exact weights; the accuracy level says how ORT computes with them. Other ternary
/// weights keep TernaryDecode with its fallback body.
/// </summary>
public abstract class OrtNBitsTargetBase(int accuracyLevel) : ITarget, IConfiguresPipeline
{
    public abstract string Name { get; }
    public abstract string Description { get; }
    public TargetCapabilities Capabilities { get; } = TargetCapabilities.Portable;
    public void Configure(Pipeline pipeline, TargetOptions options) =>
        pipeline.Add(new TranscodeToMatMulNBits(accuracyLevel)).Add(new AddTernaryDecodeFunction());
}

/// <summary>MatMulNBits computing in the activations' float type (accuracy_level 0): lossless.</summary>
public sealed class OrtNBitsTarget() : OrtNBitsTargetBase(0)
{
    public override string Name => "ort-nbits";
    public override string Description => "ONNX Runtime's MatMulNBits (bits=2, lossless); other ternary weights keep TernaryDecode with its fallback body";
}

/// <summary>
/// MatMulNBits with activations quantized to int8 by ORT (accuracy_level 4), as BitNet's own inference
/// does: ORT's fast integer kernel, close to rather than equal to the float result.
/// </summary>
public sealed class OrtNBitsInt8Target() : OrtNBitsTargetBase(4)
{
    public override string Name => "ort-nbits-int8";
    public override string Description => "MatMulNBits (bits=2, exact weights) with int8 activations (accuracy_level 4): ORT's fastest CPU path, not bit-exact";
}

/// <summary>
/// ONNX Runtime with Ternion's com.ternion custom operators: every ternary MatMul (and Gemm) becomes
/// TernaryMatMul, which reads the TTF1 weights as they are and decodes them in the kernel, so the
/// session holds the packed bytes only; where the model quantizes activations to int8 by absmax
/// right before the product (BitNet b1.58), TernaryMatMulAbsmaxInt8 instead, exact to the model.
/// Other TernaryDecode nodes run as the custom TernaryDecode op.
/// </summary>
public sealed class OrtTtf1Target : ITarget, IConfiguresPipeline
{
    public const string SessionRequirementText =
        "Ternion's com.ternion ops: in .NET TernionCustomOps.AddTo(options.DangerousGetHandle()) (ternion verify does it); " +
        "in Python/C/C++ register_custom_ops_library(\"Ternion.OrtOps.so\") (the NativeAOT build of Backends/OrtOps)";

    public string Name => "ort-ttf1";
    public string Description => "ONNX Runtime with Ternion's custom ops: TernaryMatMul on TTF1 weights packed in memory (exact float32/float16), int8 where the model quantizes activations like BitNet";
    public TargetCapabilities Capabilities { get; } = TargetCapabilities.Portable with { NativeTernaryDecode = true, SessionRequirement = SessionRequirementText };

    public void Configure(Pipeline pipeline, TargetOptions options) =>
        pipeline.Add(new FuseAbsmaxInt8TernaryMatMul()).Add(new FuseTernaryMatMul()).Add(new RemoveTernaryDecodeFunction());
}
