using System.Text;
using System.Text.Json;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Tests.Protocol;

/// <summary>`nk`'s fast path writes requests and reads answers without the protocol's serializer metadata: both must mean what the serializer's would.</summary>
public sealed class FastReplyTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static readonly List<InstanceInfo> Rows =
    [
        new()
        {
            Name = "api", Instance = 1, Pid = 4242, Status = "online", Restarts = 2, CpuPercent = 1.5, MemoryBytes = 50 << 20,
            Warnings = ["open files: 900 of 1024 \"near\" the limit"], WarningKinds = ["open_files"], Port = 3000, PortMode = "shared",
            Http = new HttpOutcomes { Class2xx = 10, P50Ms = 1.25, Buckets = [1, 2, 3] },
            Reload = new ReloadInfo("canary", At, At.AddSeconds(30), null, null, null),
            LastExit = new LastExit(1, null, "crash", At), Ready = true,
        },
        new() { Name = "wörker\u2028", Status = "stopped" },
    ];

    [Theory]
    [InlineData(Commands.Ping, null)]
    [InlineData(Commands.Status, new string[0])]
    [InlineData(Commands.Status, new[] { "api", "all" })]
    [InlineData(Commands.Status, new[] { "q\"uote", "back\\slash", "tab\tnew\nline\u0001", "ünï\u2028cöde", "</script>" })]
    public void A_request_reads_as_the_serializer_would_have_written_it(string cmd, string[]? names)
    {
        var line = FastReply.Request(1, cmd, names);
        line[^1].Should().Be((byte)'\n');
        var read = JsonSerializer.Deserialize(line.AsSpan(0, line.Length - 1), ProtocolJson.Default.Request);
        var expected = new Request { Id = 1, Cmd = cmd, Names = names };
        read.Should().BeEquivalentTo(expected, o => o.RespectingRuntimeTypes());
        read!.Names.Should().Equal(names, "every name comes through as it was, in order");
    }

    [Fact]
    public void The_rows_are_the_bytes_the_serializer_writes_for_them()
    {
        var response = new Response { Id = 1, Ok = true, Instances = Rows, Version = "1.2.3+abcdef0", Pid = 77, DaemonNotice = "restarted the apps" };
        var line = JsonSerializer.SerializeToUtf8Bytes(response, ProtocolJson.Default.Response);

        var answer = FastReply.Parse(line);

        answer.Should().NotBeNull();
        answer!.Ok.Should().BeTrue();
        answer.Version.Should().Be("1.2.3+abcdef0");
        answer.Pid.Should().Be(77);
        answer.DaemonNotice.Should().Be("restarted the apps");
        var rows = Encoding.UTF8.GetString(answer.Instances!.Value.Span);
        rows.Should().Be(JsonSerializer.Serialize(Rows, ProtocolJson.Default.ListInstanceInfo), "nk-full prints these bytes for the same rows");
        rows.Should().Be(JsonSerializer.Serialize(Rows, StatusJson.Default.ListInstanceInfo), "the client's own context has the same options");
        JsonSerializer.Deserialize(answer.Instances.Value.Span, StatusJson.Default.ListInstanceInfo).Should().BeEquivalentTo(Rows);
    }

    [Fact]
    public void A_ping_answer_has_no_rows_and_an_error_answer_is_not_ok()
    {
        var pong = FastReply.Parse(JsonSerializer.SerializeToUtf8Bytes(new Response { Id = 1, Ok = true, Version = "1.0.0", Pid = 9 }, ProtocolJson.Default.Response));
        pong.Should().Be(new FastReply.Answer(true, "1.0.0", 9, null, null));

        var error = FastReply.Parse(JsonSerializer.SerializeToUtf8Bytes(new Response { Id = 1, Ok = false, Error = "no app named x" }, ProtocolJson.Default.Response));
        error!.Ok.Should().BeFalse();
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("{\"ok\":\"true\"}")]
    [InlineData("{\"ok\":true,\"version\":3}")]
    [InlineData("{\"ok\":true,\"pid\":\"9\"}")]
    [InlineData("{\"ok\":true,\"instances\":{}}")]
    [InlineData("{\"ok\":true,\"instances\":[{\"name\":\"a\"}")]
    [InlineData("{\"ok\":true,\"daemon_notice\":[]}")]
    [InlineData("{\"ok\":true} trailing")]
    [InlineData("{\"ok\":true,\"instances\":[{\"name\":\"a\"]}")]
    [InlineData("{\"ok\":true,\"instances\":[],\"version\":3}")]
    [InlineData("{\"ok\":true,\"instances\":[{\"name\":\"a\"}],\"pid\":[]}")]
    [InlineData("{\"ok\":true,\"instances\":[{\"name\":\"a\"}]")]
    [InlineData("{\"ok\":true,\"instances\":[{\"name\":\"a\"}]} trailing")]
    public void An_answer_it_cannot_read_is_left_to_nk_full(string line) =>
        FastReply.Parse(Encoding.UTF8.GetBytes(line)).Should().BeNull();

    [Theory]
    [InlineData("[]", 2)]
    [InlineData("[]tail", 2)]
    [InlineData("[1,[2,[3]],{\"a\":{}}],", 20)]
    [InlineData("[{\"a\":\"]}[{\"}]", 14)]
    [InlineData("[\"quote \\\" and ] inside\"]", 25)]
    [InlineData("[\"backslash at the end \\\\\"]x", 27)]
    [InlineData("[{]}", -1)]
    [InlineData("[{\"a\":1]", -1)]
    [InlineData("[[]", -1)]
    [InlineData("[\"open", -1)]
    [InlineData("[\"escape at the end \\", -1)]
    public void The_end_of_the_rows_is_found_past_strings_and_by_kind_of_bracket(string json, int end) =>
        FastReply.ArrayEnd(Encoding.UTF8.GetBytes(json), 0).Should().Be(end);

    [Fact]
    public void Rows_nested_deeper_than_the_scan_goes_are_left_to_nk_full()
    {
        var deep = new string('[', 65) + new string(']', 65);
        FastReply.ArrayEnd(Encoding.UTF8.GetBytes(deep), 0).Should().Be(-1);
        var shallow = new string('[', 64) + new string(']', 64);
        FastReply.ArrayEnd(Encoding.UTF8.GetBytes(shallow), 0).Should().Be(128);
    }
}
