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

/// <summary>ONNX Runtime's native 2-bit kernels: ternary MatMul weights become com.microsoft::MatMulNBits (bits=2).</summary>
public sealed class OrtNBitsTarget : ITarget, IConfiguresPipeline
{
    public string Name => "ort-nbits";
    public string Description => "ONNX Runtime's MatMulNBits (bits=2, lossless); other ternary weights keep TernaryDecode with its fallback body";
    public TargetCapabilities Capabilities { get; } = TargetCapabilities.Portable;
    public void Configure(Pipeline pipeline, TargetOptions options) =>
        pipeline.Add(new TranscodeToMatMulNBits()).Add(new AddTernaryDecodeFunction());
}
