// The core's log records in logcat, under the tag "MailPresence" with the
// core's module as the first word: `adb logcat -s MailPresence`.
package org.mailpresence.app

import android.util.Log
import org.mailpresence.LogLevel
import org.mailpresence.LogRecord
import org.mailpresence.LogSink

object CoreLog : LogSink {
    private const val TAG = "MailPresence"

    override fun log(record: LogRecord) {
        val priority = when (record.level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, TAG, "${record.target}: ${record.message}")
    }
}
