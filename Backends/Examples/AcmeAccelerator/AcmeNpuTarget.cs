using Ternion.Backends.Targets;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;
using Ternion.Passes.Ternary;

namespace Acme.Npu;

/// <summary>
/// The Acme NPU (fictional): multiplies by ternary weights straight from TTF1 (com.acme::TernaryMatMul)
/// and maps packed weights from external data at 64-byte alignment. Ternary weights it cannot fuse
/// keep TernaryDecode with its standard-op body.
/// </summary>
public sealed class AcmeNpuTarget : ITarget, IConfiguresPipeline, IEmitsModel
{
    public string Name => "acme-npu";
    public string Description => "Acme NPU (example plugin): MatMul by a ternary weight becomes com.acme::TernaryMatMul; packed weights in 64-byte aligned external data";
    public TargetCapabilities Capabilities { get; } = new() { Alignment = 64, PreferredBlockSize = 640 };

    public void Configure(Pipeline pipeline, TargetOptions options) =>
        pipeline.InsertAfter("PackTernaryWeights", new FuseTernaryMatMul())
                .Add(new AddTernaryDecodeFunction());

    public SaveResult Emit(Model model, string outputPath, TargetOptions options)
    {
        // Packed weights: input 1 of every TernaryMatMul and input 0 of every TernaryDecode left.
        var packed = model.AllNodes()
            .Select(n => TernaryMatMulOp.Is(n) ? n.Input(1) : TernaryDecodeOp.Is(n) ? n.Input(0) : null)
            .Select(v => v?.Initializer).OfType<Tensor>().ToHashSet(ReferenceEqualityComparer.Instance);
        return ModelSerializer.Save(model, outputPath, new SaveOptions
        {
            ExternalData = options.ExternalData == ExternalDataMode.Never ? ExternalDataMode.Auto : options.ExternalData,
            Alignment = options.Alignment ?? Capabilities.Alignment,
            ForceExternal = packed.Contains,
        });
    }
}
