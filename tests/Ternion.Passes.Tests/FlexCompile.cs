using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;

namespace Ternion.Passes.Tests;

/// <summary>Runs LowerFlexAttention the way the compiler does (PassManager, invariants checked) and runs results on ONNX Runtime.</summary>
public static class FlexCompile
{
    public static PassContext Context(bool native = false, bool attentionOp = true) =>
        new(new CompileOptions { Capabilities = TargetCapabilities.Portable with { NativeFlexAttention = native }, AttentionOp = attentionOp });

    public static Model Compile(Model model, PassContext? context = null)
    {
        var pm = new PassManager([new LowerFlexAttention()], new PassManagerOptions { CheckInvariants = true });
        return pm.Run(model, context ?? Context());
    }

    public static bool HasFlexNode(Model m) => m.AllNodes().Any(n => n.OpType == "FlexAttention" && n.DomainName == "ai.onnx.preview");

    public static bool ImportsPreview(Model m) => m.OpsetImports.Any(o => o.DomainName == "ai.onnx.preview");

    /// <summary>Serialises the model (as the compiler would write it) and runs it on ONNX Runtime.</summary>
    public static Dictionary<string, RunValue> Run(Model model, IReadOnlyDictionary<string, RunValue> inputs, OrtRunOptions? options = null)
    {
        var bytes = ModelSerializer.ToBytes(model);
        return OrtRunner.Run(bytes, inputs, options ?? new OrtRunOptions { Threads = 1 }).ToDictionary(p => p.Name, p => p.Value);
    }
}
