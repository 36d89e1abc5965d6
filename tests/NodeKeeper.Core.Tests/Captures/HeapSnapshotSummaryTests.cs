using System.IO.Compression;
using NodeKeeper.Core.Captures;

namespace NodeKeeper.Core.Tests.Captures;

public class HeapSnapshotSummaryTests
{
    private static HeapSummary Read(string json) => HeapSnapshotSummary.Read(new MemoryStream(SyntheticSnapshot.Utf8(json)));

    public static TheoryData<string[]> Layouts => new()
    {
        SyntheticSnapshot.Node22Fields, // Node 18, 20 and 22 all write this one
        new[] { "type", "name", "id", "self_size", "edge_count", "trace_node_id" },
        new[] { "type", "name", "id", "self_size", "edge_count" },
        new[] { "id", "edge_count", "self_size", "detachedness", "name", "type" },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Groups_nodes_by_class_as_devtools_does_whatever_the_field_positions(string[] fields)
    {
        var summary = Read(SyntheticSnapshot.Mixed(fields));

        summary.Nodes.Should().Be(20);
        summary.TotalSelfSize.Should().Be(1080);
        summary.Classes.Should().BeEquivalentTo(new Dictionary<string, HeapClass>
        {
            ["(synthetic)"] = new(1, 0),
            ["(system)"] = new(2, 64),
            ["Session"] = new(2, 80),
            ["Object"] = new(1, 28),
            ["Node / ContextifyScript"] = new(1, 100),
            ["(string)"] = new(2, 52),
            ["(concatenated string)"] = new(1, 32),
            ["(sliced string)"] = new(1, 20),
            ["(closure)"] = new(2, 64),
            ["(array)"] = new(1, 160),
            ["(compiled code)"] = new(1, 300),
            ["(heap number)"] = new(1, 16),
            ["(regexp)"] = new(1, 40),
            ["(symbol)"] = new(1, 20),
            ["(bigint)"] = new(1, 24),
            ["(object shape)"] = new(1, 80),
        });
    }

    [Fact]
    public void An_object_and_a_native_with_one_name_share_the_class()
    {
        var summary = Read(SyntheticSnapshot.Build(SyntheticSnapshot.Node22Fields,
            [("object", "Buffer", 10), ("native", "Buffer", 5), ("object", "Other", 1)]));

        summary.Classes["Buffer"].Should().Be(new HeapClass(2, 15));
        summary.Classes.Should().HaveCount(2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void Reads_the_same_when_the_stream_trickles_and_tokens_outgrow_the_buffer(int bytesPerRead)
    {
        // A class name far longer than the 16-byte first buffer, with escapes split across refills.
        var longName = "Leaky\"Thing\\\u00e9\u4e2d" + new string('x', 5000) + "\ud83d\ude00";
        var json = SyntheticSnapshot.Build(SyntheticSnapshot.Node22Fields,
            [("object", longName, 64), ("object", longName, 64), ("string", new string('s', 3000), 3016), ("object", "Session", 40)]);
        var bytes = SyntheticSnapshot.Utf8(json);

        var trickled = HeapSnapshotSummary.Read(new TrickleStream(bytes, bytesPerRead), initialBufferSize: 16, CancellationToken.None);

        trickled.Classes[longName].Should().Be(new HeapClass(2, 128));
        trickled.Classes["(string)"].Should().Be(new HeapClass(1, 3016));
        trickled.Should().BeEquivalentTo(HeapSnapshotSummary.Read(new MemoryStream(bytes)));
    }

    [Fact]
    public void Grows_the_default_buffer_for_a_string_bigger_than_it()
    {
        var huge = new string('h', 300_000);
        var json = SyntheticSnapshot.Build(SyntheticSnapshot.Node22Fields, [("native", huge, 8), ("string", huge, 300_016)]);

        var summary = HeapSnapshotSummary.Read(new TrickleStream(SyntheticSnapshot.Utf8(json), 4096));

        summary.Classes[huge].Should().Be(new HeapClass(1, 8));
        summary.Classes["(string)"].Should().Be(new HeapClass(1, 300_016));
    }

    [Theory]
    [InlineData(0.02)]
    [InlineData(0.3)]
    [InlineData(0.6)]
    [InlineData(0.9)]
    [InlineData(0.999)]
    public void A_truncated_snapshot_is_invalid_data(double keep)
    {
        var bytes = SyntheticSnapshot.Utf8(SyntheticSnapshot.Mixed(SyntheticSnapshot.Node22Fields));
        var cut = bytes.AsSpan(0, (int)(bytes.Length * keep)).ToArray();

        var act = () => HeapSnapshotSummary.Read(new TrickleStream(cut, 5), initialBufferSize: 8, CancellationToken.None);

        act.Should().Throw<InvalidDataException>().Which.Message.Should().Contain("truncated").And.NotContain("\n");
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("hello world", "invalid JSON")]
    [InlineData("[1,2,3]", "not an object")]
    [InlineData("{\"a\":1}", "no snapshot.meta.node_fields")]
    [InlineData("{\"nodes\":[0,0,1],\"strings\":[\"x\"]}", "no snapshot.meta.node_fields before nodes")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_types\":[[\"object\"]]}},\"nodes\":[0,0,1],\"strings\":[\"x\"]}", "no snapshot.meta.node_fields before nodes")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"id\"],\"node_types\":[[\"object\"]]}},\"nodes\":[0,0,1],\"strings\":[\"x\"]}", "no \"self_size\"")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"]}},\"nodes\":[0,0,1],\"strings\":[\"x\"]}", "node_types")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":[0,0,1,0],\"strings\":[\"x\"]}", "whole nodes")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":[0,5,1],\"strings\":[\"x\"]}", "past the end of 'strings'")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":[3,0,1],\"strings\":[\"x\"]}", "node type 3")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":[0,\"a\",1],\"strings\":[\"x\"]}", "instead of numbers")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":[0,0,-1],\"strings\":[\"x\"]}", "not a count")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":[0,0,1]}", "no 'strings'")]
    [InlineData("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":{},\"strings\":[\"x\"]}", "'nodes' is not an array")]
    public void Something_that_is_not_a_heap_snapshot_is_invalid_data(string json, string expected)
    {
        var act = () => Read(json);

        act.Should().Throw<InvalidDataException>().Which.Message.Should().Contain(expected).And.NotContain("\n");
    }

    [Fact]
    public void A_minimal_valid_snapshot_reads()
    {
        var summary = Read("{\"snapshot\":{\"meta\":{\"node_fields\":[\"type\",\"name\",\"self_size\"],\"node_types\":[[\"object\"]]}},\"nodes\":[0,0,1],\"strings\":[\"x\"]}");

        summary.Should().BeEquivalentTo(new HeapSummary(1, 1, new Dictionary<string, HeapClass> { ["x"] = new(1, 1) }));
    }

    [Fact]
    public void Honours_cancellation()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var bytes = SyntheticSnapshot.Utf8(SyntheticSnapshot.Mixed(SyntheticSnapshot.Node22Fields));

        var act = () => HeapSnapshotSummary.Read(new MemoryStream(bytes), cts.Token);

        act.Should().Throw<OperationCanceledException>();
    }

    /// <summary>A real snapshot written by Node 20's v8.writeHeapSnapshot (see fixtures/README.md).</summary>
    [Fact]
    public void Reads_a_real_node_20_snapshot()
    {
        using var file = File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Captures", "fixtures", "node20-leakything.heapsnapshot.gz"));
        using var gzip = new GZipStream(file, CompressionMode.Decompress);

        var summary = HeapSnapshotSummary.Read(gzip);

        summary.Classes["LeakyThing"].Should().Be(new HeapClass(5000, 200_000));
        summary.Nodes.Should().Be(49_133); // snapshot.node_count
        summary.TotalSelfSize.Should().Be(3_294_243);
        summary.Classes.Values.Sum(c => c.Count).Should().Be(summary.Nodes);
        summary.Classes.Values.Sum(c => c.SelfSize).Should().Be(summary.TotalSelfSize);
        summary.Classes["(string)"].Count.Should().Be(15_361);
        summary.Classes["(closure)"].Count.Should().Be(5_211);
        summary.Classes.Keys.Should().Contain(["(system)", "(compiled code)", "(heap number)", "(array)", "(object shape)", "Object"]);
    }
}
