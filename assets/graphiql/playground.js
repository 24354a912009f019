// The playground's set-up, a file of its own so that the page's Content-Security-Policy allows no
// inline script.
const defaultQuery = `# Welcome to sms-notify.
#
# Most fields need a bearer token. Make one in a terminal:
#   cargo run -- token --user alice --role user
# and put it in the Headers tab below:
#   { "Authorization": "Bearer <the token>" }

query Me {
  me {
    userId
    phoneNumber
    phoneVerified
    allowSmsInvitations
    timezone
    preferences { smsBattleInvitations smsStreakAlerts hasConsent consentMethod }
    optInStatus { showPrompt alreadyOptedIn }
  }
}

mutation SetPhone {
  setPhoneNumber(phoneNumber: "(415) 555-1234") { phoneNumber phoneVerified }
}

# Live: each change of your messages' status as it happens (over /graphql/ws).
subscription MyMessages {
  smsMessageUpdates { status message { id messageType createdAt } }
}
`;
// Subscriptions go over WebSocket (graphql-transport-ws); the Headers tab rides in its init payload.
const scheme = window.location.protocol === "https:" ? "wss" : "ws";
const fetcher = GraphiQL.createFetcher({
  url: "/graphql",
  subscriptionUrl: `${scheme}://${window.location.host}/graphql/ws`,
});
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery,
    defaultEditorToolsVisibility: "headers",
    // Headers carry bearer tokens: never written to the browser's storage.
    shouldPersistHeaders: false,
  }),
);
