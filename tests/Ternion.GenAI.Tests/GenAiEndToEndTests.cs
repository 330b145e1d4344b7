using Microsoft.ML.OnnxRuntimeGenAI;
using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.TestSupport;
using Xunit.Abstractions;
using GenAiModel = Microsoft.ML.OnnxRuntimeGenAI.Model;

namespace Ternion.GenAI.Tests;

/// <summary>
/// What an Olive / ONNX Runtime GenAI user does: compile the model builder's folder with Ternion and
/// run it with onnxruntime-genai. Greedy decoding must give the same tokens from the compiled folder
/// as from the original one.
/// </summary>
public class GenAiEndToEndTests(ITestOutputHelper output)
{
    private const int NewTokens = 16;
    private const string Prompt = "Ternion packs trits";

    [Fact]
    public void GreedyTokensFromTheCompiledFolderEqualTheOriginalFolders()
    {
        using var dir = new TempDir("genai");
        string original = TinyGenAiDecoder.Write(Path.Combine(dir.Path, "original"));
        string compiled = Path.Combine(dir.Path, "compiled");
        var result = FolderCompiler.Compile(new FolderCompileRequest
        {
            InputFolder = original,
            OutputFolder = compiled,
            Settings = new CompileRequest { InputPath = "", OutputPath = "", Target = "fallback" },
        });
        var report = result.Models.Single().Result.Report;
        Assert.Equal(TinyGenAiDecoder.TernaryWeightCount, report.TernaryWeights.Count);
        Assert.Equal(["genai_config.json", "tokenizer.json", "tokenizer_config.json"], result.CopiedFiles);
        Assert.True(new FileInfo(Path.Combine(compiled, "model.onnx.data")).Length < new FileInfo(Path.Combine(original, "model.onnx.data")).Length,
            "the compiled folder should hold packed weights");
        Assert.Contains(ModelSerializer.Load(Path.Combine(compiled, "model.onnx")).AllNodes(), n => n.OpType == "TernaryDecode");

        var (fromOriginal, originalText) = Generate(original);
        var (fromCompiled, compiledText) = Generate(compiled);
        output.WriteLine($"original: [{string.Join(", ", fromOriginal)}] \"{originalText}\"");
        output.WriteLine($"compiled: [{string.Join(", ", fromCompiled)}] \"{compiledText}\"");
        Assert.Equal(NewTokens, fromOriginal.Length);
        Assert.Equal(fromOriginal, fromCompiled);
        Assert.Equal(originalText, compiledText);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(fromOriginal.Select(t => (byte)t).ToArray()), originalText);
        Assert.True(fromOriginal.Distinct().Count() > 3, "a model that repeats one token would show little");

        // GenAI ran the model as meant (its KV cache, GroupQueryAttention's sequence lengths and rotary
        // positions): greedy decoding without a cache, the whole sequence each step on ONNX Runtime
        // directly, picks the same tokens. This also runs ONNX Runtime's C# API in the process that
        // loaded GenAI: the two share one ONNX Runtime.
        Assert.Equal(fromOriginal, GreedyWithoutCache(Path.Combine(original, "model.onnx")));
    }

    private (int[] Tokens, string Text) Generate(string folder)
    {
        using var model = new GenAiModel(folder);
        using var tokenizer = new Tokenizer(model);
        using var encoded = tokenizer.Encode(Prompt);
        int[] prompt = encoded[0].ToArray();
        Assert.Equal(TinyGenAiDecoder.ExpectedTokens(Prompt), prompt);
        using var parameters = new GeneratorParams(model);
        // min_length = max_length: an end-of-sequence token cannot cut the 16 tokens short.
        parameters.SetSearchOption("max_length", prompt.Length + NewTokens);
        parameters.SetSearchOption("min_length", prompt.Length + NewTokens);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone()) generator.GenerateNextToken();
        int[] all = generator.GetSequence(0).ToArray();
        Assert.Equal(prompt, all[..prompt.Length]);
        int[] generated = all[prompt.Length..];
        return (generated, tokenizer.Decode(generated));
    }

    private static int[] GreedyWithoutCache(string modelPath)
    {
        var tokens = TinyGenAiDecoder.ExpectedTokens(Prompt).Select(t => (long)t).ToList();
        var generated = new List<int>();
        var empty = RunValue.FromArray(DataType.Float, [1, TinyGenAiDecoder.KvHeads, 0, TinyGenAiDecoder.HeadSize], Array.Empty<float>());
        for (int step = 0; step < NewTokens; step++)
        {
            var inputs = new Dictionary<string, RunValue>
            {
                ["input_ids"] = RunValue.FromArray(DataType.Int64, [1, tokens.Count], tokens.ToArray()),
                ["attention_mask"] = RunValue.FromArray(DataType.Int64, [1, tokens.Count], Enumerable.Repeat(1L, tokens.Count).ToArray()),
            };
            for (int l = 0; l < TinyGenAiDecoder.Layers; l++)
            {
                inputs[$"past_key_values.{l}.key"] = empty;
                inputs[$"past_key_values.{l}.value"] = empty;
            }
            var logits = OrtRunner.Run(modelPath, inputs, new OrtRunOptions { Threads = 1 }).Single(o => o.Name == "logits").Value.ToArray<float>();
            var last = logits.AsSpan((tokens.Count - 1) * TinyGenAiDecoder.Vocab, TinyGenAiDecoder.Vocab);
            // The end-of-sequence token is not a choice before max_length, as in GenAI with min_length.
            last[TinyGenAiDecoder.EosId] = float.NegativeInfinity;
            int next = 0;
            for (int i = 1; i < last.Length; i++) if (last[i] > last[next]) next = i;
            generated.Add(next);
            tokens.Add(next);
        }
        return generated.ToArray();
    }
}
