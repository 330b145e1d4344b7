using Ternion.Backends.Targets;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;
using Ternion.Passes.Ternary;

namespace Ternion.Guides.Tests.GuideCode;

// guide:begin edge-target
/// <summary>
/// A (made-up) edge runtime that decodes TTF1 itself and maps its weights from external data
/// aligned to 256 bytes. It keeps TernaryDecode's standard-op body, so ONNX Runtime can run the
/// output too, which is how its tests check the numbers.
/// </summary>
public sealed class EdgeRuntimeTarget : ITarget, IConfiguresPipeline, IEmitsModel
{
    public string Name => "edge-runtime";
    public string Description => "Example edge runtime: native TernaryDecode, weights in 256-byte aligned external data";
    public TargetCapabilities Capabilities { get; } = new() { NativeTernaryDecode = true, Alignment = 256, PreferredBlockSize = 640 };

    public void Configure(Pipeline pipeline, TargetOptions options) =>
        pipeline.InsertAfter("PackTernaryWeights", new StripNodeDocStrings())
                .Add(new AddTernaryDecodeFunction());

    public SaveResult Emit(Model model, string outputPath, TargetOptions options) =>
        ModelSerializer.Save(model, outputPath, new SaveOptions
        {
            ExternalData = ExternalDataMode.Always, // every tensor of 1 KiB or more
            Alignment = options.Alignment ?? Capabilities.Alignment,
        });
}
// guide:end edge-target
