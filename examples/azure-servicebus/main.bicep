// Infrastructure for the orders custom handler: a Service Bus namespace with
// the queues (MaxDeliveryCount and lock duration set, native dead-lettering),
// a Linux consumption function app running the Go binary as a custom
// handler with a managed identity allowed to receive and send, and an alert
// on dead-lettered messages.
//
//   az deployment group create -g <group> -f main.bicep -p redisUrl='rediss://...'
//
// Not validated here: no Azure CLI or Bicep compiler runs on the machines
// this repository is tested on. Run `az bicep build -f main.bicep` first.

@description('Prefix of every resource name.')
param name string = 'eventfn${uniqueString(resourceGroup().id)}'
param location string = resourceGroup().location
@description('Deliveries before Service Bus moves a message to the dead-letter subqueue.')
param maxDeliveryCount int = 5
@description('Peek-lock duration; the Functions host renews it up to maxAutoLockRenewalDuration (host.json).')
param lockDuration string = 'PT1M'
@secure()
@description('Idempotency store (rediss://...). Empty: in-memory, which only catches duplicates within one instance.')
param redisUrl string = ''
@description('Where the dead-letter alert goes; empty for no notification.')
param actionGroupId string = ''

resource sb 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${name}-sb'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
}

var queueProperties = {
  maxDeliveryCount: maxDeliveryCount
  lockDuration: lockDuration
  deadLetteringOnMessageExpiration: true
  defaultMessageTimeToLive: 'P14D'
  requiresDuplicateDetection: false
}

resource ordersQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: sb
  name: 'orders'
  properties: queueProperties
}

resource bulkQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: sb
  name: 'orders-bulk'
  properties: queueProperties
}

// Rejected (permanently failing) messages are parked here by the function's
// "rejected" output binding; dead letters of the other queues stay in their
// $DeadLetterQueue subqueues.
resource rejectedQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: sb
  name: 'orders-rejected'
  properties: queueProperties
}

resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: take(toLower(replace('${name}st', '-', '')), 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: { minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false }
}

resource plan 'Microsoft.Web/serverfarms@2023-01-01' = {
  name: '${name}-plan'
  location: location
  sku: { name: 'Y1', tier: 'Dynamic' }
  kind: 'linux'
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2023-01-01' = {
  name: '${name}-func'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      linuxFxVersion: ''
      appSettings: [
        { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'custom' }
        { name: 'AzureWebJobsStorage', value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};EndpointSuffix=${environment().suffixes.storage};AccountKey=${storage.listKeys().keys[0].value}' }
        // Identity-based connection: the trigger and output bindings use the app's managed identity.
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${sb.name}.servicebus.windows.net' }
        { name: 'ORDERS_QUEUE', value: ordersQueue.name }
        { name: 'ORDERS_BULK_QUEUE', value: bulkQueue.name }
        { name: 'ORDERS_REJECTED_QUEUE', value: rejectedQueue.name }
        { name: 'EVENTFN_REDIS_URL', value: redisUrl }
        { name: 'ORDERS_LEDGER_FILE', value: '/tmp/orders-ledger.jsonl' }
      ]
    }
  }
}

var dataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender

resource canReceive 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: sb
  name: guid(sb.id, app.id, dataReceiver)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiver)
  }
}

resource canSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: sb
  name: guid(sb.id, app.id, dataSender)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
  }
}

// A dead-letter queue nobody watches is a loss with extra steps.
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${name}-dead-letters'
  location: 'global'
  properties: {
    description: 'Messages were dead-lettered on the orders queues (MaxDeliveryCount exceeded).'
    severity: 2
    enabled: true
    scopes: [ sb.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'DeadLettered'
          criterionType: 'StaticThresholdCriterion'
          metricName: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: empty(actionGroupId) ? [] : [ { actionGroupId: actionGroupId } ]
  }
}

output functionAppName string = app.name
output serviceBusNamespace string = sb.name
