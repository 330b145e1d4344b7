using Microsoft.ML.OnnxRuntime;
using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.IR.Ternary;
using Ternion.TestSupport;

namespace Ternion.OrtOps.Tests;

/// <summary>
/// The NativeAOT shared library, loaded the way Python and C++ users load it
/// (RegisterCustomOpsLibrary, which calls its exported RegisterCustomOps), gives exactly the
/// results of the in-process registration, and reports bad input as an ORT error, not a crash.
/// </summary>
public class NativeLibraryTests
{
    private static List<(string Name, RunValue Value)> RunWithLibrary(string model, IReadOnlyDictionary<string, RunValue> inputs)
    {
        using var so = OrtRunner.MakeSessionOptions(new OrtRunOptions());
        so.RegisterCustomOpLibrary(NativeLibraryBuild.Library);
        using var session = new InferenceSession(model, so);
        return OrtRunner.Run(session, inputs);
    }

    [NativeLibraryFact]
    public void The_sample_compiled_for_ort_ttf1_gives_the_same_logits_through_the_native_library()
    {
        using var dir = new TempDir("native");
        var sample = Path.Combine(Paths.TestData, "bitnet-tiny");
        TernionCompiler.Compile(new CompileRequest { InputPath = Path.Combine(sample, "model.onnx"), OutputPath = dir.File("ttf1.onnx"), Target = "ort-ttf1" });
        var model = ModelSerializer.Load(dir.File("ttf1.onnx"));
        var inputs = ModelVerifier.ReadInputs(model, Path.Combine(sample, "test_data_set_0"));
        var inProcess = OrtRunner.Run(dir.File("ttf1.onnx"), inputs, new OrtRunOptions { TernionCustomOps = true }).Single().Value;
        var native = RunWithLibrary(dir.File("ttf1.onnx"), inputs).Single().Value;
        Assert.True(Comparison.BitIdentical(inProcess, native), "the native library's logits differ from the in-process ones");
        var expected = TestDataReader.Read(Path.Combine(sample, "test_data_set_0", "output_0.pb"), null);
        var c = Comparison.Compare("logits", expected, native, 1e-4, 1e-5);
        Assert.True(c.Ok, c.ToString());
    }

    [NativeLibraryFact]
    public void A_reserved_byte_is_an_ORT_error_naming_the_node_through_the_native_library()
    {
        using var dir = new TempDir("native");
        var packed = new byte[5 * 192];
        Array.Fill(packed, TernaryLut.ZeroByte);
        packed[77] = 250;
        ModelSerializer.Save(OpModels.MatMul(700, 5, 320, DataType.Float, 2, perChannel: false, bias: false), dir.File("m.onnx"));
        var e = Assert.Throws<TernionException>(() => RunWithLibrary(dir.File("m.onnx"), new Dictionary<string, RunValue>
        {
            ["x"] = RunValue.FromArray(DataType.Float, [1, 700], new float[700]),
            ["packed"] = RunValue.FromArray(DataType.UInt8, [5, 192], packed),
            ["scale"] = RunValue.FromArray(DataType.Float, [], new[] { 1f }),
        }));
        Assert.Contains("TernaryMatMul node 'proj'", e.Message);
        Assert.Contains("offset 77", e.Message);
    }
}
