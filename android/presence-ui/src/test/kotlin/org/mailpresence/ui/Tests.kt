// The app's plain-Kotlin layer on the JVM, against the real core library
// (through the generated bindings and JNA): what a person sees on screen.
package org.mailpresence.ui

import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import org.mailpresence.AccountConfig
import org.mailpresence.protocol.ActivityToken
import org.mailpresence.ColleaguePresence
import org.mailpresence.ConnectionStatus
import org.mailpresence.Granularity
import org.mailpresence.LogLevel
import org.mailpresence.LogRecord
import org.mailpresence.LogSink
import org.mailpresence.MailServer
import org.mailpresence.PresenceClient
import org.mailpresence.PresenceException
import org.mailpresence.protocol.TlsMode
import org.mailpresence.readNotify
import org.mailpresence.setLogSink

val root = File(System.getProperty("repo.root") ?: ".")

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

fun <T> same(actual: T, expected: T) = check(actual == expected) { "expected <$expected> but was <$actual>" }

/** Waits up to five seconds for what a background thread will make true. */
fun eventually(what: String, condition: () -> Boolean) {
    val until = System.currentTimeMillis() + 5_000
    while (!condition()) {
        check(System.currentTimeMillis() < until) { "never: $what" }
        Thread.sleep(20)
    }
}

fun goldenNotify(): ByteArray = File(root, "protocol/tests/golden/notify-from-server.eml").readBytes()

/** An account whose mail server is not there: everything stays on the phone. */
fun offlineClient(): PresenceClient {
    val server = MailServer("127.0.0.1", 1u, TlsMode.NONE, "tanaka@example.test", "pw", null)
    val config = AccountConfig("tanaka", "tanaka@example.test", "presence@example.test", "ja", server, server, Granularity.CITY)
    val dir = Files.createTempDirectory("mailpresence-app").toString()
    val client = PresenceClient(config, dir, File(root, "assets/mappack.bin").readBytes())
    client.networkChanged(false)
    return client
}

val tests: List<Pair<String, () -> Unit>> = listOf(
    "a Notify mail read by the core becomes the row the list shows" to {
        val p = readNotify(goldenNotify(), "ja")
        val now = p.updatedUnix!! + 300
        same(PresenceFormat.row(p, now, Lang.JA), "会議中（部長会議） · 13:00-15:00 部長会議 · 5分前")
        same(PresenceFormat.row(p, now, Lang.EN), "in a meeting (部長会議) · 13:00-15:00 部長会議 · 5 min ago")
        same(p.summary, "会議中（部長会議） · 13:00-15:00 部長会議")
    },
    "ages read naturally in both languages" to {
        same(PresenceFormat.age(1000, 1030, Lang.JA), "たった今")
        same(PresenceFormat.age(0, 7200, Lang.EN), "2 h ago")
        same(PresenceFormat.age(0, 86_400 + 5, Lang.EN), "yesterday")
        same(PresenceFormat.age(null, 0, Lang.JA), "時刻不明")
    },
    "a mail that is not a Notify is an error in words" to {
        val e = try { readNotify("Subject: hello\r\n\r\nhi".toByteArray(), "ja"); null } catch (e: PresenceException) { e }
        check(e is PresenceException.InvalidInput) { "got $e" }
        same(ErrorText.of(e!!, Lang.JA), "入力内容を確認してください。")
    },
    "my status: activity, place and plans through the core, kept while offline" to {
        val state = MyStatusState(offlineClient(), Lang.JA)
        same(state.ui.activity, "在席")
        same(state.ui.location, "位置情報なし")
        same(state.ui.lastPublish, "最終送信: —")
        runBlocking { state.setActivity(ActivityToken.ON_SITE, "設備点検中") }
        same(state.ui.activity, "現場作業中（設備点検中）")
        same(state.ui.lastPublish, "最終送信: たった今")
        same(state.ui.pending, "送信待ち 1件")
        same(state.ui.error, null)
        runBlocking { state.locationFix(35.0394, 135.7292, 8.0) }
        same(state.ui.location, "京都府京都市北区")
        runBlocking { state.addPlan("15:00 帰社予定") }
        same(state.ui.plans, listOf("15:00 帰社予定"))
        same(state.ui.pending, "送信待ち 3件")
    },
    "an empty status is refused with a message, not a crash" to {
        val state = MyStatusState(offlineClient(), Lang.EN)
        runBlocking { state.setActivity(null, "   ") }
        same(state.ui.error, "Please check what you entered.")
        same(state.ui.pending, null)
    },
    "the account form names every mistake and builds a config the core accepts" to {
        val bad = AccountForm(account = "田中 太郎", mail = "tanaka", presenceServer = "presence@", mailHost = "", imapPort = "99999")
        same(bad.problems(Lang.EN).map { it.field }.toSet(), setOf(
            AccountForm.Field.ACCOUNT, AccountForm.Field.MAIL, AccountForm.Field.PASSWORD,
            AccountForm.Field.PRESENCE_SERVER, AccountForm.Field.MAIL_HOST, AccountForm.Field.IMAP_PORT,
        ))
        same(bad.problems(Lang.JA).first { it.field == AccountForm.Field.IMAP_PORT }.text, "ポート番号は1〜65535です")
        val good = AccountForm("tanaka", "tanaka@example.co.jp", "pw", "presence@example.co.jp", "mail.example.co.jp")
        same(good.problems(Lang.JA), emptyList())
        val dir = Files.createTempDirectory("mailpresence-form").toString()
        val client = PresenceClient(good.toConfig(Lang.JA), dir, null)
        same(client.ownPresence().account, "tanaka")
    },
    "colleagues arrive from the listener on a background thread" to {
        val now = readNotify(goldenNotify(), "ja").updatedUnix!! + 60
        val state = ColleaguesState(Lang.JA) { now }
        val worker = Thread { state.onColleague(ColleaguePresence(readNotify(goldenNotify(), "ja"), now)) }
        worker.start(); worker.join()
        same(state.rows().map { it.text }, listOf("会議中（部長会議） · 13:00-15:00 部長会議 · 1分前"))
        same(state.rows().single().stale, false)
        val later = ColleaguesState(Lang.EN) { now + 3 * 3600 }
        later.onColleague(ColleaguePresence(readNotify(goldenNotify(), "en"), now))
        same(later.rows().single().stale, true)
        state.onConnection(ConnectionStatus.Failed(PresenceException.WrongPassword("535")))
        same(state.connection.value, "メールサーバーにログインできません。ユーザー名とパスワードを確認してください。")
        state.onConnection(ConnectionStatus.Connected)
        same(state.connection.value, null)
    },
    "the core's listener events each carry what they know: published places and the outbox apart" to {
        val client = offlineClient()
        val state = ColleaguesState(Lang.JA)
        client.setListener(state)
        runBlocking { client.setStatus(ActivityToken.ON_SITE, null) }
        eventually("the outbox holds the Publish") { state.outboxDepth.value == 1u }
        same(state.publishedLocation.value, null)
        runBlocking { client.locationFix(35.0394, 135.7292, 8.0, null) }
        eventually("the place was published") { state.publishedLocation.value == "京都府京都市北区" }
        eventually("the outbox holds both") { state.outboxDepth.value == 2u }
        client.close()
    },
    "after sharing is switched off, a status change publishes no location" to {
        val client = offlineClient()
        val published = ColleaguesState(Lang.JA)
        client.setListener(published)
        val state = MyStatusState(client, Lang.JA)
        same(state.ui.sharing, true)
        runBlocking { state.locationFix(35.0394, 135.7292, 8.0) }
        eventually("the place was published") { published.publishedLocation.value == "京都府京都市北区" }
        runBlocking { state.setSharing(false) }
        same(state.ui.sharing, false)
        same(state.ui.location, "位置情報の共有を停止中")
        eventually("a Publish without the place went at once") { published.outboxDepth.value == 2u }
        same(published.publishedLocation.value, null)
        runBlocking { state.setActivity(ActivityToken.DRIVING, null) }
        eventually("the status change was queued") { published.outboxDepth.value == 3u }
        same(published.publishedLocation.value, null)
        same(MyStatusState(client, Lang.EN).ui.location, "Location sharing paused")
        runBlocking { state.setSharing(true) }
        same(state.ui.location, "京都府京都市北区")
        eventually("sharing on publishes the place again") { published.publishedLocation.value == "京都府京都市北区" }
        client.close()
    },
    "a warning the core writes arrives in the app's log sink" to {
        val records = java.util.concurrent.CopyOnWriteArrayList<LogRecord>()
        setLogSink(object : LogSink {
            override fun log(record: LogRecord) { records.add(record) }
        }, LogLevel.WARN)
        val form = AccountForm("tanaka", "tanaka@example.co.jp", "pw", "presence@example.co.jp", "mail.example.co.jp")
        PresenceClient(form.toConfig(Lang.JA), Files.createTempDirectory("mailpresence-log").toString(), null).close()
        setLogSink(null, LogLevel.WARN)
        val warning = records.firstOrNull { it.message.contains("no map pack") }
        check(warning != null) { "no warning about the map pack among $records" }
        same(warning!!.level, LogLevel.WARN)
        check(warning.target.startsWith("mailpresence_phone")) { warning.target }
        check(records.none { it.level == LogLevel.INFO || it.level == LogLevel.DEBUG }) { "below WARN: $records" }
    },
    "printing an account never shows its password" to {
        val server = MailServer("mail.example.co.jp", 993u, TlsMode.IMPLICIT, "tanaka", "s3cret-パス", null)
        val config = AccountConfig("tanaka", "tanaka@example.co.jp", "presence@example.co.jp", "ja", server, server, Granularity.CITY)
        for (shown in listOf(server.toString(), config.toString())) {
            check(!shown.contains("s3cret")) { shown }
        }
        check(server.toString().contains("tanaka")) { server.toString() }
        same(server.password, "s3cret-パス")
    },
    "the About screen lists the map data sources" to {
        check(offlineClient().attributions().any { it.contains("GeoNames") && it.contains("CC BY 4.0") }) { "no GeoNames attribution" }
    },
)

fun main() {
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        try {
            test(); passed++; println("ok   $name")
        } catch (t: Throwable) {
            failed++; println("FAIL $name: $t")
        }
    }
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
