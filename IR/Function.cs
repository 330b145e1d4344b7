using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>A model-local function (ModelProto.functions): an operator defined by a body of other operators.</summary>
public sealed class Function
{
    public Function(string domain, string name, Graph body)
    {
        Domain = domain;
        Name = name;
        Body = body;
        body.Function = this;
    }

    public string? Domain { get; set; }
    public string? Name { get; set; }
    public string? Overload { get; set; }
    public string? DocString { get; set; }
    /// <summary>Body: its Inputs/Outputs are the function's formal parameters (names only, types optional).</summary>
    public Graph Body { get; }
    /// <summary>Names of attributes the caller may give (FunctionProto.attribute).</summary>
    public List<string> AttributeNames { get; } = new();
    /// <summary>Attributes with default values (FunctionProto.attribute_proto).</summary>
    public List<Attribute> AttributeDefaults { get; } = new();
    public List<OpsetId> OpsetImports { get; } = new();
    public List<MetadataEntry> Metadata { get; } = new();

    public string Key => $"{Domain}::{Name}" + (string.IsNullOrEmpty(Overload) ? "" : $"::{Overload}");
    public override string ToString() => $"function {Key}";
}
