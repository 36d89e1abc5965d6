using System.Text;
using NodeKeeper.Core.Captures;

namespace NodeKeeper.Core.Tests.Captures;

/// <summary>
/// <see cref="CrashReport"/> against real diagnostic reports written by Node 18, 20 and 22 (Captures/fixtures/reports:
/// an uncaught TypeError in an HTTP handler with 9 TCP handles open, and a heap OOM under --max-old-space-size=50; their
/// environmentVariables and sharedObjects emptied, paths rewritten to /app), and against synthetic broken input.
/// </summary>
public class CrashReportTests
{
    private const string TypeErrorMessage = "TypeError: Cannot read properties of undefined (reading 'id')";
    private const string OomEvent = "Allocation failed - JavaScript heap out of memory";

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Captures", "fixtures", "reports", name);

    private static CrashReportFacts ReadFixture(string name)
    {
        using var s = File.OpenRead(Fixture(name));
        return CrashReport.Read(s);
    }

    private static CrashReportFacts ReadText(string json, long maxBytes = CrashReport.DefaultMaxBytes) =>
        CrashReport.Read(new MemoryStream(Encoding.UTF8.GetBytes(json)), maxBytes);

    [Theory]
    [InlineData(18, "v18.20.8", 8535, 2)]
    [InlineData(20, "v20.20.2", 8559, 1)]
    [InlineData(22, "v22.23.5", 8592, 1)]
    public void Reads_the_uncaught_exception_of_each_version(int major, string version, int pid, int timers)
    {
        var r = ReadFixture($"node{major}-uncaught.json");

        r.Event.Should().Be("Exception"); // not the message: that is in JsStack
        r.Trigger.Should().Be("Exception");
        r.NodeVersion.Should().Be(version);
        r.Pid.Should().Be(pid);
        r.DumpTime.Should().NotBeNull();
        r.DumpTime!.Value.Offset.Should().Be(TimeSpan.Zero);
        r.DumpTimeText.Should().StartWith("2026-12-0");
        r.JsStack!.Message.Should().Be(TypeErrorMessage);
        r.JsStack.Code.Should().BeNull();
        r.JsStack.Frames.Should().HaveCount(5).And.StartWith("at handler (/app/server.js:6:77)");
        r.Handles["tcp"].Should().Be(9);
        r.Handles["signal"].Should().Be(1);
        r.Handles["timer"].Should().Be(timers);
        r.HeapSpaces["old_space"].Used.Should().BeInRange(2_000_000, 6_000_000);
        r.HeapSpaces["old_space"].Size.Should().BeGreaterThanOrEqualTo(r.HeapSpaces["old_space"].Used!.Value);
        r.Heap!.Limit.Should().Be(4_345_298_944);
        r.Resources!.MaxRssBytes.Should().BeInRange(30L << 20, 80L << 20); // bytes, not KiB
        r.Resources.UserCpuSeconds.Should().BeInRange(0.01, 1);
        r.Resources.KernelCpuSeconds.Should().BeInRange(0, 1);
    }

    [Theory]
    [InlineData(18, "v18.20.8", 8547)]
    [InlineData(20, "v20.20.2", 8571)]
    [InlineData(22, "v22.23.5", 8604)]
    public void Reads_the_heap_oom_of_each_version(int major, string version, int pid)
    {
        var r = ReadFixture($"node{major}-oom.json");

        r.Event.Should().Be(OomEvent);
        r.Trigger.Should().Be("OOMError");
        r.NodeVersion.Should().Be(version);
        r.Pid.Should().Be(pid);
        r.JsStack.Should().BeNull(); // "No stack." / ["Unavailable."]
        r.Heap!.Limit.Should().Be(102_760_448);
        r.Heap.Used.Should().BeInRange(50L << 20, 60L << 20);
        r.HeapSpaces["old_space"].Used.Should().BeInRange(48L << 20, 56L << 20);
        r.HeapSpaces.Values.Max(s => s.Used).Should().Be(r.HeapSpaces["old_space"].Used);
        r.Resources!.MaxRssBytes.Should().BeInRange(80L << 20, 200L << 20);
        r.Evidence()[0].Should().Be($"diagnostic report: OOMError \"{OomEvent}\" (Node {version})");
        r.Evidence()[1].Should().MatchRegex(@"^heap at the end: 5\d\.\d MiB used of a 98\.0 MiB limit; old_space 5\d\.\d MiB used of 5\d\.\d MiB$");
    }

    [Fact]
    public void Oom_reports_of_node_18_and_20_list_no_handles()
    {
        ReadFixture("node18-oom.json").Handles.Should().BeEmpty();
        ReadFixture("node20-oom.json").Handles.Should().BeEmpty();
        ReadFixture("node22-oom.json").Handles["tcp"].Should().Be(1);
    }

    [Fact]
    public void Evidence_of_the_node_20_exception()
    {
        ReadFixture("node20-uncaught.json").Evidence().Should().Equal(
            $"diagnostic report: Exception \"{TypeErrorMessage}\" (Node v20.20.2)",
            "at handler (/app/server.js:6:77) <- at handle (/app/server.js:7:64) <- at Server.<anonymous> (/app/server.js:9:48)",
            "heap at the end: 4.3 MiB used of a 4144 MiB limit; old_space 3.2 MiB used of 3.2 MiB, new_space 0.7 of 1.0 MiB, large_object_space 0.3 of 0.3 MiB",
            "open handles: 9 tcp, 1 signal, 1 timer",
            "CPU 0.1 s user, 0.0 s system; peak RSS 45.3 MiB");
    }

    [Fact]
    public void Dump_time_comes_from_the_unix_timestamp()
    {
        var r = ReadFixture("node20-uncaught.json");
        r.DumpTime.Should().Be(DateTimeOffset.FromUnixTimeMilliseconds(1796260015742));
        r.DumpTimeText.Should().Be("2026-12-03T01:06:55Z"); // local time of the process, despite the Z
    }

    private const string Secret = "hunter2-s3cr3t";

    private static string Synthetic(string jsStack = """{"message":"Error: boom","stack":["at f (/app/a.js:1:1)"],"errorProperties":{"code":"EADDRINUSE","config":"hunter2-s3cr3t"}}""",
        string resourceUsage = """{"userCpuSeconds":1.25,"kernelCpuSeconds":0.1,"rss":100663296,"maxRss":100663296}""") => $$"""
        {"header":{"reportVersion":5,"event":"Exception","trigger":"Exception","processId":77,
          "dumpEventTimeStamp":"1796260015742","nodejsVersion":"v22.0.0","commandLine":["node","--token={{Secret}}","a.js"]},
         "javascriptStack":{{jsStack}},
         "javascriptHeap":{"usedMemory":1048576,"heapSpaces":{"old_space":{"used":1048576,"memorySize":2097152} } },
         "resourceUsage":{{resourceUsage}},
         "libuv":[{"type":"tcp"},{"type":"udp"},{"type":"async"},{"type":"loop"},{"type":"tcp"}],
         "environmentVariables":{"SECRET_TOKEN":"{{Secret}}","DATABASE_URL":"postgres://u:{{Secret}}@db/x"} }
        """;

    [Fact]
    public void Secrets_in_the_environment_command_line_and_error_properties_never_come_out()
    {
        var r = ReadText(Synthetic());
        var evidence = string.Join("\n", r.Evidence());

        evidence.Should().NotContain(Secret).And.NotContain("SECRET_TOKEN").And.NotContain("DATABASE_URL");
        r.ToString().Should().NotContain(Secret);
        r.JsStack!.ToString().Should().NotContain(Secret);
        r.JsStack.Code.Should().Be("EADDRINUSE");
        r.Evidence().Should().Equal(
            "diagnostic report: Exception \"Error: boom\" code EADDRINUSE (Node v22.0.0)",
            "at f (/app/a.js:1:1)",
            "heap at the end: 1.0 MiB used; old_space 1.0 MiB used of 2.0 MiB",
            "open handles: 2 tcp, 1 udp",
            "CPU 1.25 s user, 0.1 s system; peak RSS 96.0 MiB");
    }

    [Fact]
    public void Multi_line_messages_and_thrown_values_without_stack()
    {
        var multi = ReadText(Synthetic("""{"message":"Error: line one","stack":["line two","at Object.<anonymous> (/app/m.js:1:11)"],"errorProperties":{}}"""));
        multi.JsStack!.Message.Should().Be("Error: line one\nline two");
        multi.JsStack.Frames.Should().Equal("at Object.<anonymous> (/app/m.js:1:11)");
        multi.Evidence()[0].Should().Contain("\"Error: line one line two\"");

        var thrown = ReadText(Synthetic("""{"message":"plain string","errorProperties":{}}"""));
        thrown.JsStack!.Message.Should().Be("plain string");
        thrown.JsStack.Frames.Should().BeEmpty();
        thrown.Evidence()[1].Should().StartWith("heap at the end:");
    }

    [Fact]
    public void Frames_are_capped_at_ten_and_evidence_shows_three()
    {
        var frames = string.Join(",", Enumerable.Range(1, 14).Select(i => $"\"at f{i} (/app/a.js:{i}:1)\""));
        var r = ReadText(Synthetic($$"""{"message":"Error: deep","stack":[{{frames}}]}"""));
        r.JsStack!.Frames.Should().HaveCount(10);
        r.Evidence()[1].Should().Be("at f1 (/app/a.js:1:1) <- at f2 (/app/a.js:2:1) <- at f3 (/app/a.js:3:1)");
    }

    [Fact]
    public void A_max_rss_in_kib_is_turned_into_bytes()
    {
        ReadText(Synthetic(resourceUsage: """{"rss":100663296,"maxRss":98304}""")).Resources!.MaxRssBytes.Should().Be(100663296);
        ReadText(Synthetic(resourceUsage: """{"maxRss":98304}""")).Resources!.MaxRssBytes.Should().Be(100663296);
    }

    [Fact]
    public void Fields_of_the_wrong_type_are_missing_not_errors()
    {
        var r = ReadText("""
            {"header":{"reportVersion":"x","nodejsVersion":"v20.1.0","processId":"abc","dumpEventTimeStamp":-5,"event":7},
             "javascriptStack":[],"javascriptHeap":{"heapSpaces":[1,2]},"libuv":{"type":"tcp"},"resourceUsage":{"maxRss":"big"}}
            """);
        r.NodeVersion.Should().Be("v20.1.0");
        r.Pid.Should().BeNull();
        r.DumpTime.Should().BeNull();
        r.Event.Should().BeNull();
        r.JsStack.Should().BeNull();
        r.HeapSpaces.Should().BeEmpty();
        r.Heap.Should().BeNull();
        r.Handles.Should().BeEmpty();
        r.Resources.Should().BeNull();
        r.Evidence().Should().Equal("diagnostic report: ? \"unknown event\" (Node v20.1.0)");
    }

    [Theory]
    [InlineData("""{"a":1}""")]
    [InlineData("""{"header":{"event":"Exception"}}""")]
    [InlineData("[]")]
    [InlineData("\"report\"")]
    [InlineData("")]
    [InlineData("not json at all")]
    [InlineData("""{"header":{"reportVersion":3}} trailing""")]
    public void What_is_not_a_report_is_an_InvalidDataException(string text)
    {
        var act = () => ReadText(text);
        act.Should().Throw<InvalidDataException>().Which.Message.Should().StartWith("not a Node.js diagnostic report").And.NotContain("\n");
    }

    [Fact]
    public void Truncated_and_non_utf8_reports_are_InvalidDataExceptions()
    {
        var bytes = File.ReadAllBytes(Fixture("node22-uncaught.json"));
        var act = () => CrashReport.Read(new MemoryStream(bytes, 0, bytes.Length / 2));
        act.Should().Throw<InvalidDataException>().WithMessage("not a Node.js diagnostic report: invalid or truncated JSON*");

        var garbage = () => CrashReport.Read(new MemoryStream([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]));
        garbage.Should().Throw<InvalidDataException>();
    }

    [Fact]
    public void Oversize_input_is_refused_with_a_one_line_message_seekable_or_not()
    {
        var bytes = File.ReadAllBytes(Fixture("node20-oom.json"));
        var seekable = () => CrashReport.Read(new MemoryStream(bytes), maxBytes: 1000);
        seekable.Should().Throw<InvalidDataException>().WithMessage($"*{bytes.Length} bytes, over the limit of 1000 bytes");

        var unseekable = () => CrashReport.Read(new BufferedStream(new NonSeekable(bytes)), maxBytes: 1000);
        unseekable.Should().Throw<InvalidDataException>().WithMessage("*more bytes, over the limit of 1000 bytes");

        CrashReport.Read(new NonSeekable(bytes), maxBytes: bytes.Length).Trigger.Should().Be("OOMError");
    }

    [Fact]
    public void A_utf8_byte_order_mark_is_allowed() =>
        CrashReport.Read(new MemoryStream([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Synthetic())])).Pid.Should().Be(77);

    [Theory]
    [InlineData("report.20261203.010655.8535.0.001.json", 8535)]
    [InlineData("/var/lib/nodekeeper/reports/report.20261203.010655.8535.0.001.json", 8535)]
    [InlineData("report.20261203.010655.8535.1.012.json", 8535)] // a worker thread's report
    [InlineData("report.20261203.010655.8535.0.001.json.tmp", null)]
    [InlineData("report.2026120.010655.8535.0.001.json", null)]
    [InlineData("report.20261203.010655.85x5.0.001.json", null)]
    [InlineData("report.20261203.010655.0.0.001.json", null)]
    [InlineData("heapdump.20261203.010655.8535.0.001.json", null)]
    [InlineData("report.json", null)]
    [InlineData("", null)]
    public void Parses_the_pid_of_a_default_report_file_name(string name, int? pid)
    {
        CrashReport.PidOfReportFile(name).Should().Be(pid);
        CrashReport.IsReportFileOf(name, 8535).Should().Be(pid == 8535);
    }

    [Fact]
    public void Fixture_names_match_their_header()
    {
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(Fixture("x"))!, "*.json"))
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(f));
            var name = doc.RootElement.GetProperty("header").GetProperty("filename").GetString()!;
            CrashReport.IsReportFileOf(name, ReadFixture(Path.GetFileName(f)).Pid!.Value).Should().BeTrue(f);
            new FileInfo(f).Length.Should().BeLessThan(60_000);
        }
    }

    /// <summary>A read-only stream that cannot seek, as a pipe.</summary>
    private sealed class NonSeekable(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    }
}
