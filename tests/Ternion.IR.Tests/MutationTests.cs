using Ternion.IR;

namespace Ternion.IR.Tests;

/// <summary>The IR mutations passes rely on keep values, uses and subgraph ownership consistent.</summary>
public class MutationTests
{
    private static (Model model, Value x) NewModel()
    {
        var g = new Graph { Name = "main" };
        var model = new Model(g);
        model.OpsetImports.Add(new OpsetId("", 21));
        var x = g.AddInput("x", IrType.Tensor(DataType.Float, 2));
        return (model, x);
    }

    [Fact]
    public void DetachedOutputMovesToANewProducerWithItsNameUsesAndGraphOutputRole()
    {
        var (model, x) = NewModel();
        var g = model.Graph;
        var relu = g.Append(new Node("", "Relu", [x], [new Value("y")]));
        var y = relu.Output();
        var neg = g.Append(new Node("", "Neg", [y], 1));
        g.Outputs.Add(y);

        var detached = relu.DetachOutput(0);
        Assert.Same(y, detached);
        Assert.Null(y.Producer);
        Assert.Null(relu.Outputs[0]);
        Assert.Null(g.LookupLocal("y"));

        var abs = g.InsertBefore(relu, new Node("", "Abs", [x], [y]));
        g.Remove(relu);
        Assert.Same(abs, y.Producer);
        Assert.Equal("y", y.Name);
        Assert.Same(y, g.LookupLocal("y"));
        Assert.Contains(new Usage(neg, 0), y.Uses);
        Assert.Same(y, g.Outputs[0]);
        Assert.DoesNotContain(x.Uses, u => ReferenceEquals(u.Node, relu));
    }

    [Fact]
    public void DetachingAnOmittedOutputIsRefused()
    {
        var (model, x) = NewModel();
        var n = model.Graph.Append(new Node("", "Dropout", [x], [new Value("d"), null]));
        Assert.Throws<IrMutationException>(() => n.DetachOutput(1));
    }

    [Fact]
    public void RemovingANodeDropsTheUsesItsSubgraphsHeldOnOuterValues()
    {
        var (model, x) = NewModel();
        var g = model.Graph;
        var cond = g.AddInput("c", IrType.Tensor(DataType.Bool));
        Graph Branch(string op)
        {
            var b = new Graph(g.Names) { Name = op };
            var n = b.Append(new Node("", op, [x], 1));
            b.Outputs.Add(n.Output());
            return b;
        }
        var iff = g.Append(new Node("", "If", [cond], 1,
            [Attribute.FromGraph("then_branch", Branch("Relu")), Attribute.FromGraph("else_branch", Branch("Neg"))]));
        Assert.Equal(2, x.Uses.Count);
        g.Remove(iff);
        Assert.Empty(x.Uses);
        Assert.Empty(cond.Uses);
    }

    [Fact]
    public void WithGraphsKeepsNameKindAndDocStringAndAdoptsTheNewGraph()
    {
        var (model, x) = NewModel();
        var g = model.Graph;
        var body = new Graph(g.Names) { Name = "body" };
        body.Outputs.Add(x);
        var attr = Attribute.FromGraph("score_mod", body);
        var copyBody = new Graph(g.Names) { Name = "copy" };
        copyBody.Outputs.Add(x);
        var copy = attr.WithGraphs([copyBody]);
        Assert.Equal("score_mod", copy.Name);
        Assert.Equal(AttributeKind.Graph, copy.Kind);
        Assert.Same(copyBody, copy.AsGraph);
        var node = g.Append(new Node("ai.onnx.preview", "FlexAttention", [x, x, x], 1, [copy]));
        Assert.Same(node, copyBody.ParentNode);
        Assert.Null(body.ParentNode);
        Assert.Throws<IrMutationException>(() => attr.WithGraphs([]));
    }
}

public class AttributeReplacementTests
{
    [Fact]
    public void ReplacingASubgraphAttributeDropsTheUsesItsNodesHeld()
    {
        var g = new Graph { Name = "main" };
        var m = new Model(g);
        var x = g.AddInput("x", IrType.Tensor(DataType.Float, 2));
        var cond = g.AddInput("c", IrType.Tensor(DataType.Bool));
        Graph Branch()
        {
            var b = new Graph { Name = "branch" };
            return b;
        }
        var then = Branch();
        var node = g.Append(new Node("", "If", [cond], 1, [Attribute.FromGraph("then_branch", then)]));
        var inner = then.Append(new Node("", "Relu", [x], 1));
        then.Outputs.Add(inner.Output());
        Assert.Contains(x.Uses, u => ReferenceEquals(u.Node, inner));

        node.SetAttribute(Attribute.FromGraph("then_branch", Branch()));
        Assert.DoesNotContain(x.Uses, u => ReferenceEquals(u.Node, inner));
        Assert.False(x.IsUsed);

        node.RemoveAttribute("then_branch");
        Assert.Empty(node.Subgraphs);
    }
}
