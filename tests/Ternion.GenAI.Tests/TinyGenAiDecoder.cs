using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.TestSupport;

namespace Ternion.GenAI.Tests;

/// <summary>
/// A tiny decoder folder laid out as ONNX Runtime GenAI's model builder writes one: model.onnx with
/// its weights in model.onnx.data, genai_config.json, and a tokenizer (tokenizer.json,
/// tokenizer_config.json). The graph follows the builder's conventions for a Llama-style decoder:
/// inputs input_ids, attention_mask and past_key_values.N.key/value; outputs logits and
/// present.N.key/value (B, kv_heads, S, head_size); SimplifiedLayerNormalization for RMSNorm;
/// com.microsoft GroupQueryAttention with rotary embedding from cos/sin caches, fed seqlens_k
/// (attention_mask summed, minus one, int32) and total_sequence_length (its width, int32). The q, k,
/// v, o, gate, up and down projections are ternary (trits times a per-tensor or per-column scale);
/// embedding and LM head are dense, the LM head's bias allows only lower-case letters and spaces.
/// Weights come from a fixed seed: the same folder every time.
/// </summary>
public static class TinyGenAiDecoder
{
    public const int Bytes = 256, BosId = 256, EosId = 257, Vocab = 258;
    public const int Hidden = 64, Heads = 4, KvHeads = 2, HeadSize = 16, Layers = 2, Ffn = 128, Context = 64;
    public const int TernaryWeightCount = Layers * 7;

    public static string Write(string folder, ulong seed = 20261206)
    {
        Directory.CreateDirectory(folder);
        var rng = new SplitMix(seed);
        var proto = BuildModel(rng);
        // Through Ternion's writer: all weights in model.onnx.data, as the builder saves them.
        var model = ModelSerializer.FromBytes(proto.ToByteArray());
        ModelSerializer.Save(model, Path.Combine(folder, "model.onnx"), new SaveOptions { ExternalData = ExternalDataMode.Always, DataFileName = "model.onnx.data" });
        File.WriteAllText(Path.Combine(folder, "genai_config.json"), GenAiConfig().ToJsonString(new() { WriteIndented = true }));
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), TokenizerJson().ToJsonString(new() { WriteIndented = true }));
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), TokenizerConfig().ToJsonString(new() { WriteIndented = true }));
        return folder;
    }

    private static ModelProto BuildModel(SplitMix rng)
    {
        var g = new GraphProto { Name = "tiny_genai_decoder" };
        g.Input.Add(Int64("input_ids", "batch_size", "sequence_length"));
        g.Input.Add(Int64("attention_mask", "batch_size", "total_sequence_length"));
        for (int l = 0; l < Layers; l++)
        {
            g.Input.Add(Float($"past_key_values.{l}.key", "batch_size", KvHeads, "past_sequence_length", HeadSize));
            g.Input.Add(Float($"past_key_values.{l}.value", "batch_size", KvHeads, "past_sequence_length", HeadSize));
        }
        g.Output.Add(Float("logits", "batch_size", "sequence_length", Vocab));
        for (int l = 0; l < Layers; l++)
        {
            g.Output.Add(Float($"present.{l}.key", "batch_size", KvHeads, "total_sequence_length", HeadSize));
            g.Output.Add(Float($"present.{l}.value", "batch_size", KvHeads, "total_sequence_length", HeadSize));
        }

        // Sequence lengths for GroupQueryAttention, from the attention mask.
        g.Initializer.Add(Int64Tensor("/model/constants/one_axis", [1], [1]));
        g.Initializer.Add(Int64Tensor("/model/constants/one", [], [1]));
        g.Node.Add(Node("ReduceSum", ["attention_mask", "/model/constants/one_axis"], ["/model/attn_mask_reformat/sum"], ("keepdims", 0L)));
        g.Node.Add(Node("Sub", ["/model/attn_mask_reformat/sum", "/model/constants/one"], ["/model/attn_mask_reformat/sub"]));
        g.Node.Add(Node("Cast", ["/model/attn_mask_reformat/sub"], ["seqlens_k"], ("to", 6L)));
        g.Node.Add(Node("Shape", ["attention_mask"], ["/model/attn_mask_reformat/shape"]));
        g.Node.Add(Node("Gather", ["/model/attn_mask_reformat/shape", "/model/constants/one"], ["/model/attn_mask_reformat/width"], ("axis", 0L)));
        g.Node.Add(Node("Cast", ["/model/attn_mask_reformat/width"], ["total_seq_len"], ("to", 6L)));

        // Rotary caches [context, head_size / 2].
        var cos = new float[Context * HeadSize / 2];
        var sin = new float[cos.Length];
        for (int p = 0; p < Context; p++)
            for (int i = 0; i < HeadSize / 2; i++)
            {
                double angle = p * Math.Pow(10000, -2.0 * i / HeadSize);
                cos[p * HeadSize / 2 + i] = (float)Math.Cos(angle);
                sin[p * HeadSize / 2 + i] = (float)Math.Sin(angle);
            }
        g.Initializer.Add(Protos.FloatTensor("cos_cache", [Context, HeadSize / 2], cos));
        g.Initializer.Add(Protos.FloatTensor("sin_cache", [Context, HeadSize / 2], sin));

        g.Initializer.Add(Protos.FloatTensor("model.embed_tokens.weight", [Vocab, Hidden], rng.Uniform(Vocab * Hidden, 1f)));
        g.Node.Add(Node("Gather", ["model.embed_tokens.weight", "input_ids"], ["/model/embed_tokens/output"]));
        string x = "/model/embed_tokens/output";
        for (int l = 0; l < Layers; l++)
        {
            string p = $"/model/layers.{l}";
            string n1 = Norm(g, rng, $"model.layers.{l}.input_layernorm.weight", x, $"{p}/input_layernorm/output");
            string q = Project(g, rng, $"model.layers.{l}.attn.q_proj", n1, Hidden, Heads * HeadSize, perColumn: false);
            string k = Project(g, rng, $"model.layers.{l}.attn.k_proj", n1, Hidden, KvHeads * HeadSize, perColumn: false);
            string v = Project(g, rng, $"model.layers.{l}.attn.v_proj", n1, Hidden, KvHeads * HeadSize, perColumn: true);
            var gqa = Node("GroupQueryAttention",
                [q, k, v, $"past_key_values.{l}.key", $"past_key_values.{l}.value", "seqlens_k", "total_seq_len", "cos_cache", "sin_cache"],
                [$"{p}/attn/GroupQueryAttention/output", $"present.{l}.key", $"present.{l}.value"],
                ("num_heads", (long)Heads), ("kv_num_heads", (long)KvHeads), ("do_rotary", 1L), ("local_window_size", -1L), ("rotary_interleaved", 0L));
            gqa.Domain = "com.microsoft";
            g.Node.Add(gqa);
            string o = Project(g, rng, $"model.layers.{l}.attn.o_proj", $"{p}/attn/GroupQueryAttention/output", Heads * HeadSize, Hidden, perColumn: false);
            g.Node.Add(Node("Add", [x, o], [$"{p}/attn/residual"]));
            x = $"{p}/attn/residual";

            string n2 = Norm(g, rng, $"model.layers.{l}.post_attention_layernorm.weight", x, $"{p}/post_attention_layernorm/output");
            string gate = Project(g, rng, $"model.layers.{l}.mlp.gate_proj", n2, Hidden, Ffn, perColumn: true);
            string up = Project(g, rng, $"model.layers.{l}.mlp.up_proj", n2, Hidden, Ffn, perColumn: true);
            g.Node.Add(Node("Sigmoid", [gate], [$"{p}/mlp/act_fn/Sigmoid"]));
            g.Node.Add(Node("Mul", [gate, $"{p}/mlp/act_fn/Sigmoid"], [$"{p}/mlp/act_fn/Mul"]));
            g.Node.Add(Node("Mul", [$"{p}/mlp/act_fn/Mul", up], [$"{p}/mlp/Mul"]));
            string down = Project(g, rng, $"model.layers.{l}.mlp.down_proj", $"{p}/mlp/Mul", Ffn, Hidden, perColumn: true);
            g.Node.Add(Node("Add", [x, down], [$"{p}/mlp/residual"]));
            x = $"{p}/mlp/residual";
        }
        string final = Norm(g, rng, "model.norm.weight", x, "/model/norm/output");
        g.Initializer.Add(Protos.FloatTensor("lm_head.MatMul.weight", [Hidden, Vocab], rng.Uniform(Hidden * Vocab, 0.5f)));
        g.Node.Add(Node("MatMul", [final, "lm_head.MatMul.weight"], ["/lm_head/MatMul/output"]));
        // An output bias that keeps the random model to lower-case letters and spaces, so the
        // generated text reads as text and decoding can be checked byte for byte.
        var bias = Enumerable.Range(0, Vocab).Select(t => t is ' ' or (>= 'a' and <= 'z') ? 0f : -30f).ToArray();
        g.Initializer.Add(Protos.FloatTensor("lm_head.bias", [Vocab], bias));
        g.Node.Add(Node("Add", ["/lm_head/MatMul/output", "lm_head.bias"], ["logits"]));

        var m = new ModelProto { IrVersion = 10, ProducerName = "ternion-tests (GenAI model builder layout)", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return m;
    }

    private static string Norm(GraphProto g, SplitMix rng, string weight, string input, string output)
    {
        g.Initializer.Add(Protos.FloatTensor(weight, [Hidden], rng.Uniform(Hidden, 0.25f).Select(v => 1f + v).ToArray()));
        g.Node.Add(Node("SimplifiedLayerNormalization", [input, weight], [output], ("axis", -1L), ("epsilon", 1e-5f), ("stash_type", 1L)));
        return output;
    }

    /// <summary>MatMul by a ternary [k, n] weight: trits in {-1, 0, 1} times one scale, or one per column.</summary>
    private static string Project(GraphProto g, SplitMix rng, string name, string input, int k, int n, bool perColumn)
    {
        float baseScale = (float)(1.2 / Math.Sqrt(k));
        var scales = Enumerable.Range(0, perColumn ? n : 1).Select(_ => baseScale * (0.75f + 0.5f * rng.NextFloat())).ToArray();
        var w = new float[k * n];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++)
                w[i * n + j] = (rng.Next() % 3) switch { 0 => 0f, 1 => scales[perColumn ? j : 0], _ => -scales[perColumn ? j : 0] };
        g.Initializer.Add(Protos.FloatTensor($"{name}.MatMul.weight", [k, n], w));
        string output = $"/{name.Replace('.', '/')}/MatMul/output";
        g.Node.Add(Node("MatMul", [input, $"{name}.MatMul.weight"], [output]));
        return output;
    }

    private static JsonObject GenAiConfig() => new()
    {
        ["model"] = new JsonObject
        {
            ["type"] = "llama",
            ["bos_token_id"] = BosId,
            ["eos_token_id"] = EosId,
            ["pad_token_id"] = EosId,
            ["vocab_size"] = Vocab,
            ["context_length"] = Context,
            ["decoder"] = new JsonObject
            {
                ["filename"] = "model.onnx",
                ["session_options"] = new JsonObject { ["log_id"] = "ternion-tests", ["provider_options"] = new JsonArray(), ["intra_op_num_threads"] = 1 },
                ["head_size"] = HeadSize,
                ["hidden_size"] = Hidden,
                ["num_attention_heads"] = Heads,
                ["num_hidden_layers"] = Layers,
                ["num_key_value_heads"] = KvHeads,
                ["inputs"] = new JsonObject
                {
                    ["input_ids"] = "input_ids",
                    ["attention_mask"] = "attention_mask",
                    ["past_key_names"] = "past_key_values.%d.key",
                    ["past_value_names"] = "past_key_values.%d.value",
                },
                ["outputs"] = new JsonObject
                {
                    ["logits"] = "logits",
                    ["present_key_names"] = "present.%d.key",
                    ["present_value_names"] = "present.%d.value",
                },
            },
        },
        ["search"] = new JsonObject
        {
            ["do_sample"] = false,
            ["max_length"] = Context,
            ["min_length"] = 0,
            ["num_beams"] = 1,
            ["num_return_sequences"] = 1,
            ["past_present_share_buffer"] = false,
            ["repetition_penalty"] = 1.0,
            ["temperature"] = 1.0,
            ["top_k"] = 1,
            ["top_p"] = 1.0,
        },
    };

    /// <summary>
    /// Byte-level BPE with no merges: one token per UTF-8 byte (its id is the byte's value), each
    /// byte written as GPT-2's printable stand-in character, plus &lt;s&gt; and &lt;/s&gt;.
    /// </summary>
    private static JsonObject TokenizerJson()
    {
        var vocab = new JsonObject();
        var map = ByteToChar();
        for (int b = 0; b < Bytes; b++) vocab[map[b].ToString()] = b;
        vocab["<s>"] = BosId;
        vocab["</s>"] = EosId;
        JsonObject Special(int id, string content) => new()
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        };
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(Special(BosId, "<s>"), Special(EosId, "</s>")),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
    }

    private static JsonObject TokenizerConfig() => new()
    {
        ["tokenizer_class"] = "GPT2Tokenizer",
        ["bos_token"] = "<s>",
        ["eos_token"] = "</s>",
        ["unk_token"] = "</s>",
        ["add_bos_token"] = false,
        ["add_prefix_space"] = false,
        ["model_max_length"] = Context,
        ["clean_up_tokenization_spaces"] = false,
    };

    /// <summary>GPT-2's byte-to-character table: printable Latin-1 bytes stand for themselves, the rest for 256 + n in order.</summary>
    public static char[] ByteToChar()
    {
        var map = new char[Bytes];
        int next = 0;
        for (int b = 0; b < Bytes; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + next++);
        }
        return map;
    }

    /// <summary>The token ids the tokenizer above gives a text: its UTF-8 bytes.</summary>
    public static int[] ExpectedTokens(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();

    private static ValueInfoProto Int64(string name, params object[] dims) => Value(name, 7, dims);
    private static ValueInfoProto Float(string name, params object[] dims) => Value(name, 1, dims);

    private static ValueInfoProto Value(string name, int type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type, Shape = shape } } };
    }

    private static TensorProto Int64Tensor(string name, long[] dims, long[] values)
    {
        var t = new TensorProto { Name = name, DataType = 7 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        return t;
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var n = Protos.Node(op, inputs, outputs);
        n.Name = outputs[0].TrimStart('/').Replace("/output", "");
        foreach (var (name, value) in attributes)
            n.Attribute.Add(value switch
            {
                long i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
                float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
                _ => throw new ArgumentException($"attribute {name}: {value.GetType()}"),
            });
        return n;
    }

    /// <summary>SplitMix64: a fixed, platform-independent stream of numbers.</summary>
    private sealed class SplitMix(ulong state)
    {
        public ulong Next()
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, 1) with 24 bits, exact in float32.</summary>
        public float NextFloat() => (Next() >> 40) / (float)(1 << 24);

        public float[] Uniform(int count, float halfWidth) => Enumerable.Range(0, count).Select(_ => (NextFloat() * 2f - 1f) * halfWidth).ToArray();
    }
}
